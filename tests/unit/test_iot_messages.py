"""Device messages checked before they are believed, without a broker: the topic names a
registered device on its kind's channel, the payload is small, of the kind's schema and not
dated ahead; a sensor raises once per upward crossing; the registry's settings are checked at
startup, the setting named."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from coordinator.config import load_coordinator_settings
from coordinator.iot_devices import IotSettings
from coordinator.iot_messages import Crossings, Refused, Stale, parse
from kernel.errors import ConfigError

NOW = datetime(2026, 12, 6, 1, 0, tzinfo=UTC)
WHERE = {"site": "site-a", "latitude": 52.5, "longitude": 13.4}
IOT = IotSettings(devices=[
    {"id": "sos-1", "kind": "sos_button", **WHERE},
    {"id": "noise-3", "kind": "noise", "threshold": 85.0, **WHERE},
    {"id": "lamp-7", "kind": "lamp_controller", "cameras": ["site-a/gate"], **WHERE}])


def body(**fields: object) -> bytes:
    return json.dumps({"time": NOW.isoformat(), **fields}).encode()


def test_a_good_message_of_each_kind_is_read() -> None:
    press = parse(IOT, "city/devices/sos-1/sos", body(), NOW)
    assert press.device.kind == "sos_button" and press.time == NOW
    assert parse(IOT, "city/devices/noise-3/reading", body(value=91.5), NOW).value == 91.5
    assert parse(IOT, "city/devices/lamp-7/state", body(on=False), NOW).on is False


@pytest.mark.parametrize(("topic", "payload", "reason"), [
    ("city/devices/sos-9/sos", body(), "unknown device"),
    ("city/devices/sos-1/reading", body(value=1.0), "does not publish on"),
    ("city/devices/sos-1/sos/extra", body(), "is not <prefix>"),
    ("elsewhere/sos-1/sos", body(), "is not <prefix>"),
    ("city/devices/sos-1/sos", body() + b" " * 1100, "more than 1024"),
    ("city/devices/sos-1/sos", b"\xff\xfe", "not a valid sos"),
    ("city/devices/sos-1/sos", body(extra="x"), "not a valid sos"),
    ("city/devices/sos-1/sos", json.dumps({"time": "2026-12-06T01:00:00"}).encode(),
     "not a valid sos"),  # no zone: which clock would it be?
    ("city/devices/noise-3/reading", body(value="loud"), "not a valid reading"),
    ("city/devices/lamp-7/state", body(on=None), "not a valid state"),
    ("city/devices/sos-1/sos", json.dumps({"time": (NOW + timedelta(minutes=5)).isoformat()}
                                          ).encode(), "ahead"),
])
def test_a_bad_message_is_refused_with_the_reason(topic: str, payload: bytes,
                                                  reason: str) -> None:
    with pytest.raises(Refused, match=reason):
        parse(IOT, topic, payload, NOW)


def test_a_sensor_raises_once_per_upward_crossing() -> None:
    crossings = Crossings()
    seen = [crossings.crossed(parse(IOT, "city/devices/noise-3/reading", body(value=v), NOW))
            for v in (60, 85, 90, 70, 86)]
    assert seen == [False, True, False, False, True]
    assert not crossings.crossed(parse(IOT, "city/devices/sos-1/sos", body(), NOW))


def test_the_registry_is_checked_at_startup(tmp_path: Path) -> None:
    mqtt = {"host": "broker.city.example"}

    def error(iot: dict[str, object], **options: object) -> str:
        with pytest.raises(ConfigError) as caught:
            load_coordinator_settings(None, data_dir=tmp_path, iot=iot, **options)
        return str(caught.value)

    sensor = {"id": "air-1", "kind": "air_quality", **WHERE}
    assert "configure [mqtt]" in error({"devices": []})
    assert "a threshold is set for sensors" in error({"devices": [sensor]}, mqtt=mqtt)
    assert "iot.devices.0.latitude" in error(
        {"devices": [{**sensor, "threshold": 50, "latitude": 91}]}, mqtt=mqtt)
    assert "only a lamp controller links cameras" in error(
        {"devices": [{**sensor, "threshold": 50, "cameras": ["site-a/gate"]}]}, mqtt=mqtt)
    assert "is not \"site/camera\"" in error(
        {"devices": [{"id": "lamp-1", "kind": "lamp_controller", "cameras": ["gate"],
                      **WHERE}]}, mqtt=mqtt)
    assert "used twice" in error({"devices": [{**sensor, "threshold": 5}] * 2}, mqtt=mqtt)
    assert "iot.devices.0.id" in error({"devices": [{**sensor, "threshold": 5,
                                                     "id": "../etc"}]}, mqtt=mqtt)
    assert "only sensors have a unit" in error(
        {"devices": [{"id": "sos-2", "kind": "sos_button", "unit": "dB", **WHERE}]}, mqtt=mqtt)


def test_a_sensor_s_unit_is_its_kind_s_unless_the_registry_names_one() -> None:
    iot = IotSettings(devices=[
        {"id": "air-1", "kind": "air_quality", "threshold": 50, **WHERE},
        {"id": "air-2", "kind": "air_quality", "threshold": 50, "unit": "AQI", **WHERE},
        {"id": "noise-3", "kind": "noise", "threshold": 85, **WHERE},
        {"id": "sos-1", "kind": "sos_button", **WHERE}])
    assert [d.reading_unit() for d in iot.devices] == ["µg/m³", "AQI", "dB(A)", None]


@pytest.mark.parametrize("value", [b"1e309", b"-1e309", b"Infinity", b"-Infinity", b"NaN",
                                   b"1e7", b"-1000001"])
def test_a_non_finite_or_absurd_reading_is_refused(value: bytes) -> None:
    """Red team 14: ``1e309`` parsed to inf crossed every threshold and reached the feeds as
    ``Infinity``, which JSON.parse rejects."""
    payload = b'{"time": "%s", "value": %s}' % (NOW.isoformat().encode(), value)
    with pytest.raises(Refused, match="not a valid reading message"):
        parse(IOT, "city/devices/noise-3/reading", payload, NOW)
    assert parse(IOT, "city/devices/noise-3/reading", body(value=-40.0), NOW).value == -40.0


def test_what_goes_out_is_strict_json_even_for_a_stored_infinity() -> None:
    from coordinator.finite_json import finite_dumps

    sent = finite_dumps({"value": float("inf"), "list": [float("nan"), 1.5, -float("inf")],
                         "ok": 2})
    assert json.loads(sent, parse_constant=pytest.fail) == {
        "value": None, "list": [None, 1.5, None], "ok": 2}


def test_a_message_dated_longer_ago_than_past_seconds_is_stale() -> None:
    """Red team 3: a press dated a year ago was stored past the alert retention and purged
    with a public entry. A press is sent at once; a sensor's may wait out a reconnect."""
    late = json.dumps({"time": (NOW - timedelta(seconds=IOT.past_seconds)).isoformat()})
    assert parse(IOT, "city/devices/sos-1/sos", late.encode(), NOW).time < NOW
    old = json.dumps({"time": (NOW - timedelta(days=400)).isoformat()}).encode()
    with pytest.raises(Stale):
        parse(IOT, "city/devices/sos-1/sos", old, NOW)
