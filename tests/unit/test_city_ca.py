"""The city CA pinned at enrolment: the coordinator sends it in the enrolment document, the
node keeps it beside its enrolment and verifies TLS broker URLs and its SuperNode against it;
a document whose CA is not a CA, or not a certificate, is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kernel.errors import ConfigError
from nodes.city_ca import broker_url, pinned_ca, verified_url
from nodes.enrolment import load_enrolment, parse_enrolment
from nodes.learning.supernode import supernode_command
from privacy.pki import issue, make_ca
from tests.support.world import embedded_world


def test_tls_urls_are_verified_against_the_pinned_ca(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    assert verified_url("rediss://broker.city:6380/2", ca) == (
        f"rediss://broker.city:6380/2?ssl_cert_reqs=required&ssl_ca_certs={ca}")
    with_password = verified_url("rediss://:s3cret@broker.city:6380/0?socket_timeout=5", ca)
    assert with_password.startswith("rediss://:s3cret@broker.city:6380/0?socket_timeout=5&")
    assert "ssl_cert_reqs=required" in with_password
    own = "rediss://broker.city/0?ssl_cert_reqs=required&ssl_ca_certs=/etc/city/ca.pem"
    assert verified_url(own, ca) == own  # a CA the site names itself is its choice
    assert verified_url("redis://127.0.0.1:6379/0", ca) == "redis://127.0.0.1:6379/0"
    assert verified_url("rediss://broker.city/0", None) == "rediss://broker.city/0"


def test_enrolment_pins_the_city_ca_for_the_broker_and_the_supernode(tmp_path: Path) -> None:
    ca = make_ca(tmp_path / "pki")
    world = embedded_world(tmp_path, options={"city_ca": ca.certificate})
    try:
        node = world.add_node("alpha", "site-a", broker="rediss://broker.city:6380/0")
        settings = node.settings
        assert load_enrolment(settings.data_dir).city_ca == ca.certificate.read_text()
        pinned = pinned_ca(settings.data_dir)
        assert pinned is not None and pinned.read_text() == ca.certificate.read_text()
        assert broker_url(settings) == (
            f"rediss://broker.city:6380/0?ssl_cert_reqs=required&ssl_ca_certs={pinned}")
        command = supernode_command(settings, node.config, "10.0.0.1:9092", None, {}, 9094)
        assert command[command.index("--root-certificates") + 1] == str(pinned)

        document = json.loads(world.client.get(
            f"/nodes/{node.node_id}/enrolment", headers=world.as_("admin")).text)
        host = issue(ca, tmp_path / "pki", "broker", ["broker.city"])
        for wrong, why in ((host.certificate.read_text(), "not a CA certificate"),
                           ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                            "not a PEM certificate")):
            with pytest.raises(ConfigError, match=why):
                parse_enrolment(json.dumps(document | {"city_ca": wrong}), "forged.json")
    finally:
        world.close()


def test_without_a_city_ca_nothing_is_pinned(tmp_path: Path) -> None:
    world = embedded_world(tmp_path)
    try:
        node = world.add_node("alpha", "site-a")
        assert load_enrolment(node.settings.data_dir).city_ca is None
        assert pinned_ca(node.settings.data_dir) is None
        with pytest.raises(ConfigError, match="flower_ca"):
            supernode_command(node.settings, node.config, "10.0.0.1:9092", None, {}, 9094)
    finally:
        world.close()


def test_the_superlink_connection_names_its_ca_by_absolute_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Flower's CLI refuses a relative root-certificates path: a relative CA (the demo's
    `--out demo-output`) is written out absolute, and Flower's own parser takes it."""
    import tomllib

    from flwr.cli.flower_config import parse_superlink_connection

    from coordinator.learning.superlink import FEDERATION, SuperLink

    monkeypatch.chdir(tmp_path)
    SuperLink("127.0.0.1:9092", Path("pki/ca.pem"), Path("flower-cli"))
    written = tomllib.loads((tmp_path / "flower-cli" / "config.toml").read_text())
    connection = parse_superlink_connection(written["superlink"][FEDERATION], FEDERATION)
    assert connection.root_certificates == str(tmp_path / "pki" / "ca.pem")
