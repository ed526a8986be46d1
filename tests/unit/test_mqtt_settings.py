"""The MQTT settings and what one alert becomes on the wire, without a broker: one password
source, with a user; topic levels that a name cannot split or wildcard; the back-off of an MQTT
delivery, which is never given up."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from coordinator.config import MqttSettings, load_coordinator_settings
from coordinator.db import Alert
from coordinator.mqtt import level, messages
from coordinator.worker import MQTT_BACKOFF_CAP_SECONDS, mqtt_backoff
from kernel.errors import ConfigError

NOW = datetime(2026, 12, 6, 1, 0, tzinfo=UTC)


def test_off_unless_a_broker_is_configured_and_tls_by_default(tmp_path: Path) -> None:
    assert load_coordinator_settings(None, data_dir=tmp_path).mqtt is None
    settings = MqttSettings(host="broker.city.example")
    assert settings.tls and settings.port == 8883 and settings.qos == 1


def test_the_password_comes_from_one_place_with_a_user(tmp_path: Path) -> None:
    secret = tmp_path / "mqtt-password"
    secret.write_text("s3cret\n")
    assert MqttSettings(host="b", username="u", password_file=secret).secret() == "s3cret"
    with pytest.raises(ValidationError, match="not both"):
        MqttSettings(host="b", username="u", password_file=secret, password=SecretStr("x"))
    with pytest.raises(ValidationError, match="needs a username"):
        MqttSettings(host="b", password=SecretStr("x"))
    shown = repr(MqttSettings(host="b", username="u", password=SecretStr("hunter22")))
    assert "hunter22" not in shown
    with pytest.raises(ConfigError, match=r"mqtt\.password_file"):
        MqttSettings(host="b", username="u", password_file=tmp_path / "missing").secret()
    with pytest.raises(ValidationError, match="topic_prefix"):
        MqttSettings(host="b", topic_prefix="city/#")


def test_a_name_is_one_topic_level() -> None:
    assert level("gate/2") == "gate_2" and level("a+b#") == "a_b_" and level(None) == "_"


def test_occupancy_publishes_its_event_and_the_zones_retained_count() -> None:
    alert = Alert(id=7, node_id="node-1", site_id="market", type="occupancy", rule="crowd",
                  camera="north", zone="square", line=None, direction=None, time=NOW,
                  count=41, tokens=["0123456789abcdef"], score=None, received_at=NOW,
                  state="open", assigned_to="alice", handled_by=None, handled_at=None,
                  incident_id=3)
    event, occupancy = messages("city", alert, None)
    assert event.topic == "city/sites/market/cameras/north/events/occupancy" and not event.retain
    assert b"0123456789abcdef" not in event.payload and b"alice" not in event.payload
    assert b'"severity": "low"' in event.payload
    assert occupancy.topic == "city/sites/market/cameras/north/occupancy/square"
    assert occupancy.retain and b'"count": 41' in occupancy.payload


def test_an_mqtt_delivery_backs_off_to_a_minute_and_keeps_trying() -> None:
    waits = [mqtt_backoff(n) for n in range(12)]
    assert waits[:4] == [1, 2, 4, 8] and waits == sorted(waits)
    assert waits[-1] == MQTT_BACKOFF_CAP_SECONDS


def test_the_worker_never_gives_an_mqtt_delivery_up(tmp_path: Path) -> None:
    from contract.tasks import DELIVER_TASK, PUBLISH_MQTT_TASK
    from coordinator.worker import MAX_ATTEMPTS, worker_app

    app = worker_app(load_coordinator_settings(None, data_dir=tmp_path), lambda: None)  # type: ignore[arg-type,return-value]
    assert app.tasks[PUBLISH_MQTT_TASK].max_retries is None
    assert app.tasks[DELIVER_TASK].max_retries == MAX_ATTEMPTS - 1  # webhooks: as before
