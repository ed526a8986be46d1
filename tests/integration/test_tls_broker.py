"""The broker under TLS: a Redis that speaks only TLS, with a certificate from the city CA
(`safecity pki`); the coordinator reaches it with `rediss://` URLs that verify it against the
CA, a node worker process with a bare `rediss://` URL verified against the CA it pinned at
enrolment, and a warrant-gated query goes through and back. A plain connection, or one that
does not trust the CA, gets nothing."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis

from privacy.pki import issue, make_ca
from tests.support.served import free_port
from tests.support.world import T0, World


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    ca = make_ca(tmp_path / "ca")
    host = issue(ca, tmp_path / "tls", "broker", ["127.0.0.1"])
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
         "--tls-cert-file", str(host.certificate), "--tls-key-file", str(host.key),
         "--tls-ca-cert-file", str(ca.certificate), "--tls-auth-clients", "no",
         "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = redis.Redis(host="127.0.0.1", port=port, ssl=True,
                             ssl_ca_certs=str(ca.certificate))
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield port, ca.certificate
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_a_query_goes_through_a_broker_that_speaks_only_tls(
        tmp_path: Path, tls_redis: tuple[int, Path]) -> None:
    port, ca = tls_redis
    with pytest.raises(redis.ConnectionError):
        redis.Redis(host="127.0.0.1", port=port, socket_timeout=3).ping()  # plain: refused
    stranger = make_ca(tmp_path / "stranger").certificate
    with pytest.raises(redis.ConnectionError):
        redis.Redis(host="127.0.0.1", port=port, ssl=True, ssl_ca_certs=str(stranger),
                    socket_timeout=3).ping()
    url = f"rediss://127.0.0.1:{port}/{{}}?ssl_cert_reqs=required&ssl_ca_certs={ca}"
    world = World(tmp_path, f"sqlite:///{tmp_path / 'coordinator.sqlite'}", url.format(0),
                  url.format(1), query_timeout=60, options={"city_ca": ca})
    try:
        node = world.add_node("alpha", "site-a", broker=f"rediss://127.0.0.1:{port}/0",
                              backend=f"rediss://127.0.0.1:{port}/1")
        pinned = node.settings.data_dir / "city-ca.pem"
        assert pinned.read_text() == ca.read_text()  # pinned from the enrolment document
        world.service("alpha").sightings.add("gate", T0 - timedelta(days=1), 1, "AB12CDE")
        world.start_worker("alpha")
        warrant = world.registered()
        sent = world.client.post("/queries", headers=world.as_("police"), json={
            "warrant_id": warrant["warrant_id"], "targets": ["AB12 CDE"]})
        assert sent.status_code == 202, sent.text
        view = world.client.get(f"/queries/{sent.json()['query_id']}", params={"wait": 40},
                                headers=world.as_("police")).json()
        assert view["nodes"][0]["status"] == "answered", (view, world.worker_log("alpha"))
        assert [h["target"] for h in view["hits"]] == ["AB12CDE"]
    finally:
        world.close()
