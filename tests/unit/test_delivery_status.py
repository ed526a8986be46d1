"""The delivery status's words: each error the MQTT publisher records (``coordinator.mqtt``)
read as the trouble it is, the broker's address and what to check, never the error's own text;
the time the actions have waited since, on the city's clock (the date too when not today)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from coordinator.mqtt import _reason
from coordinator.services.delivery_status import _mqtt_kind, _mqtt_text, _tail, _where

WHERE = "broker.city.example:8883"


@pytest.mark.parametrize(("error", "kind"), [
    (_reason(ReasonCode(PacketTypes.CONNACK, "Not authorized")), "credentials"),
    (_reason(ReasonCode(PacketTypes.CONNACK, "Bad user name or password")), "credentials"),
    (f"{_reason(ReasonCode(PacketTypes.CONNACK, 'Not authorized'))}; mqtt.password_file "
     "/etc/safecity/mqtt-password: Permission denied", "password_file"),
    (f"cannot connect to the broker at {WHERE} (refused, unreachable, or its TLS certificate "
     "not trusted)", "unreachable"),
    ("the connection to the broker was lost", "unreachable"),
    (f"not connected to the broker at {WHERE} yet", "unreachable"),
    (f"no PUBACK from the broker at {WHERE} within 5 s", "no_acknowledgement"),
    ("the MQTT client's queue is full", "failing"),
])
def test_each_publisher_error_is_read_as_its_trouble(error: str, kind: str) -> None:
    assert _mqtt_kind(error) == kind
    said = _mqtt_text(_mqtt_kind(error), WHERE, "2 actions waiting since 12:03")
    assert WHERE in said and said.endswith("2 actions waiting since 12:03.")
    assert "/etc/safecity" not in said  # written from the kind, not copied from the error


def test_credentials_name_what_to_check() -> None:
    said = _mqtt_text("credentials", WHERE, "1 action waiting since 12:03")
    assert said == (f"MQTT broker at {WHERE} refused our credentials: check mqtt.username and "
                    "the password (mqtt.password_file or SAFECITY_COORDINATOR_MQTT__PASSWORD); "
                    "1 action waiting since 12:03.")


def test_the_time_is_the_city_s_with_the_date_when_not_today() -> None:
    since = datetime(2026, 7, 1, 10, 3, tzinfo=UTC)  # 12:03 in Berlin (summer time)
    assert _tail(3, 0, since, datetime(2026, 7, 1, 20, 0, tzinfo=UTC), "Europe/Berlin") \
        == "3 actions waiting since 12:03"
    assert _tail(1, 2, since, datetime(2026, 7, 2, 9, 0, tzinfo=UTC), "Europe/Berlin") \
        == "1 action waiting since 2026-07-01 12:03, 2 given up"
    # 23:30 UTC is already the next day in Berlin: "today" is the city's
    late = datetime(2026, 7, 1, 23, 30, tzinfo=UTC)
    assert _tail(1, 0, late, datetime(2026, 7, 2, 6, 0, tzinfo=UTC), "Europe/Berlin") \
        == "1 action waiting since 01:30"


def test_a_receiver_is_named_by_host_and_port_only() -> None:
    assert _where("https://signs.city.example/hooks/7?token=s3cret") == "signs.city.example:443"
    assert _where("http://10.1.2.3:8080/x#frag") == "10.1.2.3:8080"
