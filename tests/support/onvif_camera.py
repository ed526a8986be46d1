"""A network camera for tests, as a city would buy one: it answers WS-Discovery probes on the
multicast group, serves the ONVIF device and media services (SOAP 1.2 with WS-Security
UsernameToken digests, checked), and streams real video over RTSP (RTP over the RTSP connection,
MPEG-TS payload, RFC 2250) behind HTTP Digest authentication.

Run it as a process (``python tests/support/onvif_camera.py --address ... --video clip.ts``,
the password on stdin) or in a thread (:class:`Camera`). It prints one JSON line when it listens,
and records what it refused in ``Camera.refusals`` (and on stderr when run as a process).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import secrets
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from socketserver import BaseRequestHandler, ThreadingTCPServer
from xml.etree import ElementTree

GROUP = "239.255.255.250"
DISCOVERY_PORT = 3702
NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "d": "http://schemas.xmlsoap.org/ws/2005/04/discovery",
    "wsse": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd",
    "wsu": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd",
}
ENVELOPE = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:tds="http://www.onvif.org/ver10/device/wsdl" '
    'xmlns:trt="http://www.onvif.org/ver10/media/wsdl" '
    'xmlns:tt="http://www.onvif.org/ver10/schema" '
    'xmlns:ter="http://www.onvif.org/ver10/error">'
    '<s:Body>{body}</s:Body></s:Envelope>'
)
NOT_AUTHORIZED = (
    '<s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>ter:NotAuthorized'
    '</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en">Sender not authorized'
    '</s:Text></s:Reason></s:Fault>'
)
TS_PACKET = 188


@dataclass
class Profile:
    token: str
    name: str
    width: int
    height: int
    path: str  # the RTSP path it streams at ('' for none)


@dataclass
class Camera:
    address: str
    video: Path
    username: str
    password: str
    name: str = "Gate camera"
    location: str = "north-gate"
    http_port: int = 0
    rtsp_port: int = 0
    discovery_port: int = DISCOVERY_PORT
    stream_host: str = ""  # the host its stream URIs name (default: its own address)
    profiles: list[Profile] = field(default_factory=lambda: [
        Profile("main", "mainstream", 320, 240, "/stream1"),
        Profile("sub", "substream", 160, 120, "/stream2"),
        Profile("meta", "metadata only", 0, 0, ""),  # no stream: GetStreamUri is a fault
    ])
    urn: str = field(default_factory=lambda: f"urn:uuid:{secrets.token_hex(16)}")
    refusals: list[str] = field(default_factory=list)
    streamed: int = 0  # RTSP sessions that played
    _servers: list = field(default_factory=list)
    _used_nonces: set[str] = field(default_factory=set)

    # -- lifecycle

    def start(self, discovery: bool = True) -> Camera:
        http = ThreadingHTTPServer((self.address, self.http_port), _soap_handler(self))
        rtsp = _RTSPServer((self.address, self.rtsp_port), _rtsp_handler(self))
        self.http_port, self.rtsp_port = http.server_address[1], rtsp.server_address[1]
        self._servers = [http, rtsp]
        for server in self._servers:
            threading.Thread(target=server.serve_forever, daemon=True).start()
        if discovery:
            self._discovery = _discovery_socket(self.address, self.discovery_port)
            threading.Thread(target=self._answer_probes, daemon=True).start()
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        if getattr(self, "_discovery", None) is not None:
            self._discovery.close()

    @property
    def device_url(self) -> str:
        return f"http://{self.address}:{self.http_port}/onvif/device_service"

    def refuse(self, reason: str) -> None:
        self.refusals.append(reason)
        print(f"camera refused: {reason}", file=sys.stderr, flush=True)

    # -- WS-Discovery (WS-Discovery 1.0, ONVIF Core 7.3)

    def _answer_probes(self) -> None:
        while True:
            try:
                data, sender = self._discovery.recvfrom(65536)
            except OSError:
                return
            try:
                root = ElementTree.fromstring(data)
                message_id = root.findtext("s:Header/a:MessageID", namespaces=NS)
                if root.find("s:Body/d:Probe", NS) is None or not message_id:
                    continue
            except ElementTree.ParseError:
                continue
            self._discovery.sendto(self.probe_match(message_id).encode(), sender)

    def probe_match(self, relates_to: str) -> str:
        scopes = " ".join([
            "onvif://www.onvif.org/type/video_encoder",
            f"onvif://www.onvif.org/name/{self.name.replace(' ', '%20')}",
            f"onvif://www.onvif.org/location/{self.location}",
            "onvif://www.onvif.org/hardware/SC-CAM-1",
        ])
        return (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
            'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
            'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" '
            'xmlns:dn="http://www.onvif.org/ver10/network/wsdl">'
            '<s:Header><a:MessageID>urn:uuid:' + secrets.token_hex(16) + '</a:MessageID>'
            '<a:RelatesTo>' + relates_to + '</a:RelatesTo>'
            '<a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To>'
            '<a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</a:Action>'
            '</s:Header><s:Body><d:ProbeMatches><d:ProbeMatch>'
            '<a:EndpointReference><a:Address>' + self.urn + '</a:Address></a:EndpointReference>'
            '<d:Types>dn:NetworkVideoTransmitter</d:Types>'
            '<d:Scopes>' + scopes + '</d:Scopes>'
            '<d:XAddrs>' + self.device_url + '</d:XAddrs>'
            '<d:MetadataVersion>1</d:MetadataVersion>'
            '</d:ProbeMatch></d:ProbeMatches></s:Body></s:Envelope>'
        )

    # -- ONVIF SOAP services

    def answer(self, request: bytes) -> tuple[int, str]:
        root = ElementTree.fromstring(request)
        body = root.find("s:Body", NS)
        operation = body[0].tag.rsplit("}", 1)[-1] if body is not None and len(body) else ""
        if operation != "GetSystemDateAndTime" and not self._authenticated(root):
            return 400, ENVELOPE.format(body=NOT_AUTHORIZED)
        build = getattr(self, f"_{operation}", None)
        if build is None:
            self.refuse(f"unsupported operation {operation}")
            return 400, ENVELOPE.format(body=(
                '<s:Fault><s:Code><s:Value>s:Receiver</s:Value><s:Subcode><s:Value>'
                'ter:ActionNotSupported</s:Value></s:Subcode></s:Code><s:Reason>'
                '<s:Text xml:lang="en">not supported</s:Text></s:Reason></s:Fault>'))
        return 200, ENVELOPE.format(body=build(body[0]))

    def _authenticated(self, root: ElementTree.Element) -> bool:
        """WS-Security UsernameToken Profile 1.0: Base64(SHA-1(nonce + created + password))."""
        token = root.find("s:Header/wsse:Security/wsse:UsernameToken", NS)
        if token is None:
            self.refuse("no UsernameToken")
            return False
        username = token.findtext("wsse:Username", default="", namespaces=NS)
        digest = token.findtext("wsse:Password", default="", namespaces=NS)
        nonce = token.findtext("wsse:Nonce", default="", namespaces=NS)
        created = token.findtext("wsu:Created", default="", namespaces=NS)
        try:
            when = datetime.fromisoformat(created)
            expected = base64.b64encode(hashlib.sha1(
                base64.b64decode(nonce) + created.encode() + self.password.encode()).digest())
        except ValueError:
            self.refuse("malformed UsernameToken")
            return False
        if abs(datetime.now(UTC) - when) > timedelta(minutes=5):
            self.refuse("UsernameToken too old")
            return False
        if nonce in self._used_nonces:
            self.refuse("UsernameToken replayed")
            return False
        if not (hmac.compare_digest(username.encode(), self.username.encode())
                and hmac.compare_digest(digest.encode(), expected)):
            self.refuse("wrong credentials (ONVIF)")
            return False
        self._used_nonces.add(nonce)
        return True

    def _GetSystemDateAndTime(self, _: ElementTree.Element) -> str:
        now = datetime.now(UTC)
        return (
            '<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>'
            '<tt:DateTimeType>NTP</tt:DateTimeType><tt:DaylightSavings>false'
            '</tt:DaylightSavings><tt:TimeZone><tt:TZ>UTC</tt:TZ></tt:TimeZone><tt:UTCDateTime>'
            f'<tt:Time><tt:Hour>{now.hour}</tt:Hour><tt:Minute>{now.minute}</tt:Minute>'
            f'<tt:Second>{now.second}</tt:Second></tt:Time><tt:Date><tt:Year>{now.year}'
            f'</tt:Year><tt:Month>{now.month}</tt:Month><tt:Day>{now.day}</tt:Day></tt:Date>'
            '</tt:UTCDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>'
        )

    def _GetServices(self, _: ElementTree.Element) -> str:
        base = f"http://{self.address}:{self.http_port}/onvif"
        services = [("http://www.onvif.org/ver10/device/wsdl", f"{base}/device_service"),
                    ("http://www.onvif.org/ver10/media/wsdl", f"{base}/media_service")]
        return "<tds:GetServicesResponse>" + "".join(
            f"<tds:Service><tds:Namespace>{ns}</tds:Namespace><tds:XAddr>{url}</tds:XAddr>"
            "<tds:Version><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tds:Version>"
            "</tds:Service>" for ns, url in services) + "</tds:GetServicesResponse>"

    def _GetDeviceInformation(self, _: ElementTree.Element) -> str:
        return (
            '<tds:GetDeviceInformationResponse><tds:Manufacturer>Safecity Test Optics'
            '</tds:Manufacturer><tds:Model>SC-CAM-1</tds:Model><tds:FirmwareVersion>2.4.1'
            '</tds:FirmwareVersion><tds:SerialNumber>SN-0042</tds:SerialNumber>'
            '<tds:HardwareId>rev-b</tds:HardwareId></tds:GetDeviceInformationResponse>'
        )

    def _GetProfiles(self, _: ElementTree.Element) -> str:
        return "<trt:GetProfilesResponse>" + "".join(
            f'<trt:Profiles token="{p.token}" fixed="true"><tt:Name>{p.name}</tt:Name>'
            f'<tt:VideoEncoderConfiguration token="enc-{p.token}"><tt:Name>enc-{p.token}'
            '</tt:Name><tt:UseCount>1</tt:UseCount><tt:Encoding>H264</tt:Encoding>'
            f'<tt:Resolution><tt:Width>{p.width}</tt:Width><tt:Height>{p.height}</tt:Height>'
            '</tt:Resolution><tt:Quality>5</tt:Quality><tt:SessionTimeout>PT60S'
            '</tt:SessionTimeout></tt:VideoEncoderConfiguration></trt:Profiles>'
            for p in self.profiles) + "</trt:GetProfilesResponse>"

    def _GetStreamUri(self, request: ElementTree.Element) -> str:
        token = request.findtext("{http://www.onvif.org/ver10/media/wsdl}ProfileToken")
        profile = next((p for p in self.profiles if p.token == token), None)
        if profile is None or not profile.path:
            return ('<s:Fault><s:Code><s:Value>s:Sender</s:Value></s:Code><s:Reason>'
                    '<s:Text xml:lang="en">no such profile</s:Text></s:Reason></s:Fault>')
        return (
            '<trt:GetStreamUriResponse><trt:MediaUri>'
            f'<tt:Uri>rtsp://{self.stream_host or self.address}:{self.rtsp_port}{profile.path}'
            '</tt:Uri>'
            '<tt:InvalidAfterConnect>false</tt:InvalidAfterConnect><tt:InvalidAfterReboot>'
            'false</tt:InvalidAfterReboot><tt:Timeout>PT0S</tt:Timeout>'
            '</trt:MediaUri></trt:GetStreamUriResponse>'
        )

    # -- RTSP (RFC 2326), RTP over the RTSP connection (section 10.12), MP2T payload (RFC 2250)

    def rtsp_session(self, conn: socket.socket) -> None:
        realm, nonce = "safecity-camera", secrets.token_hex(16)
        reader = conn.makefile("rb")
        while True:
            request = _read_rtsp_request(reader)
            if request is None:
                return
            method, uri, headers = request
            reply = {"CSeq": headers.get("cseq", "0")}
            if method == "OPTIONS":
                reply["Public"] = "OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN"
                _send_rtsp(conn, 200, reply)
                continue
            if not self._digest_ok(method, headers.get("authorization", ""), realm, nonce):
                reply["WWW-Authenticate"] = f'Digest realm="{realm}", nonce="{nonce}"'
                _send_rtsp(conn, 401, reply)
                continue
            path = "/" + uri.split("://", 1)[-1].split("/", 1)[-1].split("/", 1)[0]
            if not any(p.path == path for p in self.profiles if p.path):
                _send_rtsp(conn, 404, reply)
                continue
            if method == "DESCRIBE":
                sdp = (f"v=0\r\no=- 0 0 IN IP4 {self.address}\r\ns=safecity test camera\r\n"
                       "c=IN IP4 0.0.0.0\r\nt=0 0\r\na=control:*\r\nm=video 0 RTP/AVP 33\r\n"
                       "a=rtpmap:33 MP2T/90000\r\na=control:track1\r\n")
                base = uri.rstrip("/") + "/"
                reply |= {"Content-Base": base, "Content-Type": "application/sdp"}
                _send_rtsp(conn, 200, reply, sdp.encode())
            elif method == "SETUP":
                if "interleaved" not in headers.get("transport", ""):
                    _send_rtsp(conn, 461, reply)
                    continue
                reply |= {"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1",
                          "Session": "5a7e;timeout=60"}
                _send_rtsp(conn, 200, reply)
            elif method == "PLAY":
                reply |= {"Session": "5a7e", "Range": "npt=0.000-"}
                _send_rtsp(conn, 200, reply)
                self.streamed += 1
                self._play(conn)
                return
            elif method == "TEARDOWN":
                _send_rtsp(conn, 200, reply)
                return
            else:
                _send_rtsp(conn, 405, reply)

    def _digest_ok(self, method: str, header: str, realm: str, nonce: str) -> bool:
        """RFC 2617 Digest (MD5, no qop), as RTSP cameras use it."""
        if not header.lower().startswith("digest "):
            if header:
                self.refuse("RTSP authorization is not Digest")
            return False
        fields = dict(_digest_fields(header[7:]))
        ha1 = hashlib.md5(f"{self.username}:{realm}:{self.password}".encode()).hexdigest()
        ha2 = hashlib.md5(f"{method}:{fields.get('uri', '')}".encode()).hexdigest()
        expected = hashlib.md5(f"{ha1}:{nonce}:{ha2}".encode()).hexdigest()
        if not (hmac.compare_digest(fields.get("username", ""), self.username)
                and fields.get("nonce") == nonce
                and hmac.compare_digest(fields.get("response", ""), expected)):
            self.refuse("wrong credentials (RTSP)")
            return False
        return True

    def _play(self, conn: socket.socket) -> None:
        data = self.video.read_bytes()
        per_packet = 7 * TS_PACKET
        sequence, ssrc, started = 0, 0x5AFEC17E, time.monotonic()
        try:
            for offset in range(0, len(data) - len(data) % TS_PACKET, per_packet):
                payload = data[offset:offset + per_packet]
                stamp = int((time.monotonic() - started) * 90000) & 0xFFFFFFFF
                rtp = struct.pack("!BBHII", 0x80, 33, sequence & 0xFFFF, stamp, ssrc) + payload
                conn.sendall(b"$\x00" + struct.pack("!H", len(rtp)) + rtp)
                sequence += 1
        except OSError:
            return
        time.sleep(0.5)


class _RTSPServer(ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def _rtsp_handler(camera: Camera) -> type[BaseRequestHandler]:
    class Handler(BaseRequestHandler):
        def handle(self) -> None:
            camera.rtsp_session(self.request)
    return Handler


def _soap_handler(camera: Camera) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            try:
                status, body = camera.answer(self.rfile.read(length))
            except ElementTree.ParseError:
                status, body = 400, ENVELOPE.format(body="")
            payload = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/soap+xml; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *_: object) -> None:
            pass
    return Handler


def _discovery_socket(address: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("", port))
    membership = socket.inet_aton(GROUP) + socket.inet_aton(address)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
    return sock


def _read_rtsp_request(reader) -> tuple[str, str, dict[str, str]] | None:
    line = reader.readline()
    if not line:
        return None
    method, uri, _ = line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while (header := reader.readline().decode("latin-1").strip()):
        name, _, value = header.partition(":")
        headers[name.strip().lower()] = value.strip()
    if int(headers.get("content-length", "0")):
        reader.read(int(headers["content-length"]))
    return method, uri, headers


def _send_rtsp(conn: socket.socket, status: int, headers: dict[str, str],
               body: bytes = b"") -> None:
    reasons = {200: "OK", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed",
               461: "Unsupported Transport"}
    lines = [f"RTSP/1.0 {status} {reasons[status]}"] + [f"{k}: {v}" for k, v in headers.items()]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)


def _digest_fields(text: str):
    for part in text.split(","):
        name, _, value = part.strip().partition("=")
        yield name.strip().lower(), value.strip().strip('"')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", required=True)
    parser.add_argument("--video", type=Path, required=True)
    parser.add_argument("--username", default="operator")
    parser.add_argument("--http-port", type=int, default=0)
    parser.add_argument("--rtsp-port", type=int, default=0)
    args = parser.parse_args()
    camera = Camera(args.address, args.video, args.username, sys.stdin.readline().strip(),
                    http_port=args.http_port, rtsp_port=args.rtsp_port).start()
    print(json.dumps({"device_url": camera.device_url, "urn": camera.urn,
                      "rtsp_port": camera.rtsp_port}), flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
