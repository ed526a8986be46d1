"""Entry points for Flower's SuperLink and SuperNodes."""
