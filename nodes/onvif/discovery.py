"""WS-Discovery of network video transmitters (ONVIF Core Specification section 7.3; WS-Discovery
of April 2005, SOAP over UDP).

The node multicasts a Probe for ``dn:NetworkVideoTransmitter`` to 239.255.255.250:3702 on every
interface (or the ones named) and collects the ProbeMatches sent back to it. Answers come from
anything on the network: they are parsed without DTDs, entities or network access, bounded in
size, matched to the probe's message id, and their strings cleaned before anyone prints them.
"""

from __future__ import annotations

import re
import select
import socket
import struct
import time
import uuid
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from lxml import etree

from kernel.errors import ConfigError
from nodes.errors import SourceError

GROUP = ("239.255.255.250", 3702)
MAX_DATAGRAM = 65507
# SOAP-over-UDP 1.1, appendix I: a multicast message is sent once more, 50 ms later (UDP loses
# datagrams; answers are told apart by the device's URN).
UDP_REPEAT, UDP_MIN_DELAY = 1, 0.05
NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "d": "http://schemas.xmlsoap.org/ws/2005/04/discovery",
}
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                          huge_tree=False, remove_comments=True, remove_pis=True)
_PRINTABLE = re.compile(r"[^\x20-\x7e]")


@dataclass(frozen=True)
class Device:
    """One camera that answered: its endpoint (a URN), where its device service is, and what it
    says about itself in its ONVIF scopes."""

    urn: str
    xaddrs: tuple[str, ...]
    types: tuple[str, ...]
    scopes: tuple[str, ...]

    def scope(self, kind: str) -> str:
        """The value of the ``onvif://www.onvif.org/<kind>/...`` scope ('' if none)."""
        prefix = f"onvif://www.onvif.org/{kind}/"
        values = [unquote(s[len(prefix):]) for s in self.scopes if s.startswith(prefix)]
        return _clean(" ".join(values))

    @property
    def address(self) -> str:
        """host:port of the first device service address."""
        parts = urlsplit(self.xaddrs[0])
        return f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"

    def summary(self) -> dict[str, object]:
        return {"urn": self.urn, "address": self.address, "xaddrs": list(self.xaddrs),
                "name": self.scope("name"), "location": self.scope("location"),
                "hardware": self.scope("hardware"), "types": list(self.types)}


def probe_message(message_id: str) -> bytes:
    """A Probe for network video transmitters (ONVIF Core 7.3.1: dn:NetworkVideoTransmitter)."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
        'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" '
        'xmlns:dn="http://www.onvif.org/ver10/network/wsdl">'
        '<s:Header>'
        f'<a:MessageID>{message_id}</a:MessageID>'
        '<a:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>'
        '<a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action>'
        '</s:Header>'
        '<s:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></s:Body>'
        '</s:Envelope>'
    ).encode()


def parse_probe_matches(data: bytes, message_id: str) -> list[Device]:
    """The devices in a ProbeMatches answer to ``message_id``; [] for anything else (another
    probe's answer, a malformed or hostile datagram, a device without an http(s) address)."""
    if len(data) > MAX_DATAGRAM:
        return []
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError:
        return []
    if root.getroottree().docinfo.doctype or root.findtext("s:Header/a:RelatesTo",
                                                           namespaces=NS) != message_id:
        return []
    devices = []
    for match in root.iterfind("s:Body/d:ProbeMatches/d:ProbeMatch", NS):
        urn = _clean(match.findtext("a:EndpointReference/a:Address", "", NS))
        xaddrs = tuple(x for x in _words(match, "d:XAddrs") if _is_http(x))
        if urn and xaddrs:
            devices.append(Device(urn, xaddrs, _words(match, "d:Types"),
                                  _words(match, "d:Scopes")))
    return devices


def discover(timeout: float = 3.0, interfaces: tuple[str, ...] = (),
             target: tuple[str, int] = GROUP) -> list[Device]:
    """Probe the site's networks and return each device that answered within ``timeout``
    seconds, once. ``interfaces`` names the interfaces to probe on (default: every one but
    loopback)."""
    message_id = f"urn:uuid:{uuid.uuid4()}"
    probe = probe_message(message_id)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP) as sock:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)  # this network only
        sock.bind(("", 0))
        indexes, sent = _interface_indexes(interfaces), 0
        for repeat in range(1 + UDP_REPEAT):
            if repeat:
                time.sleep(UDP_MIN_DELAY)
            for index in indexes:
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF,
                                struct.pack("4s4si", socket.inet_aton(target[0]),
                                            socket.inet_aton("0.0.0.0"), index))
                try:
                    sock.sendto(probe, target)
                    sent += 1
                except OSError:
                    continue  # an interface that is down or has no address
        if not sent:
            raise SourceError("no network interface to probe on" + (
                f" (asked for: {', '.join(interfaces)})" if interfaces else ""))
        found: dict[str, Device] = {}
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            if not select.select([sock], [], [], left)[0]:
                break
            data, _ = sock.recvfrom(MAX_DATAGRAM + 1)
            for device in parse_probe_matches(data, message_id):
                found.setdefault(device.urn, device)
    return sorted(found.values(), key=lambda d: d.xaddrs)


def _interface_indexes(names: tuple[str, ...]) -> list[int]:
    known = {name: index for index, name in socket.if_nameindex()}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(f"no network interface {', '.join(unknown)}; "
                          f"this host has {', '.join(sorted(known))}")
    return [known[n] for n in names] if names else [i for n, i in known.items() if n != "lo"]


def _words(element: etree._Element, path: str) -> tuple[str, ...]:
    return tuple(_clean(w) for w in (element.findtext(path, "", NS) or "").split())


def _is_http(url: str) -> bool:
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname) and (
            parts.port is None or 0 < parts.port < 65536) and not parts.username
    except ValueError:
        return False


def _clean(text: str) -> str:
    """At most 200 printable ASCII characters: a device's words reach terminals and logs."""
    return _PRINTABLE.sub("?", text.strip())[:200]
