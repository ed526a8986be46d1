"""ONVIF cameras: found on the site's network by WS-Discovery, their streams looked up through
the ONVIF media service, their credentials read from a file only the node can read and kept out
of every message and log."""
