"""The small city CA: a server certificate it issues verifies against it for the hosts named,
and a real TLS handshake with Python's ssl module succeeds (and fails for another CA)."""

from __future__ import annotations

import socket
import ssl
import threading
from pathlib import Path

import pytest

from privacy.pki import issue, make_ca


def handshake(ca: Path, certificate: Path, key: Path, host: str) -> None:
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(certificate, key)
    client = ssl.create_default_context(cafile=str(ca))
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)

        def accept() -> None:
            connection, _ = listener.accept()
            try:
                with server.wrap_socket(connection, server_side=True) as tls:
                    tls.recv(1)
            except (ssl.SSLError, OSError):
                pass

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        with socket.create_connection(listener.getsockname()) as raw, \
                client.wrap_socket(raw, server_hostname=host) as tls:
            tls.sendall(b"x")
        thread.join(timeout=5)


def test_issued_certificates_verify_for_their_hosts_only(tmp_path: Path) -> None:
    ca = make_ca(tmp_path / "ca")
    server = issue(ca, tmp_path / "server", "superlink", ["127.0.0.1", "coordinator.city"])
    assert oct(server.key.stat().st_mode & 0o777) == "0o600"
    handshake(ca.certificate, server.certificate, server.key, "127.0.0.1")
    handshake(ca.certificate, server.certificate, server.key, "coordinator.city")
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(ca.certificate, server.certificate, server.key, "elsewhere.city")
    other = make_ca(tmp_path / "other")
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(other.certificate, server.certificate, server.key, "127.0.0.1")
