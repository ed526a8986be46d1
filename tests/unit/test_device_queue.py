"""The worker's device_message task believes only what its own MQTT listener sealed (red team 3,
December 2026): a task queued by anyone else on the Celery broker (unsealed, wrongly tagged,
received too long ago, or a replay of a sealed one) stores nothing and is counted as an
anonymous denial, never logged one by one; a press dated longer ago than ``past_seconds`` is
refused as stale."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from coordinator.db import Alert
from coordinator.device_queue import MAX_AGE, Seen, Unsealed, device_key, open_sealed, seal
from coordinator.worker import DEVICE_TASK, worker_app
from tests.support.world import World, anonymous_denials, embedded_world

T0 = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
KEY = b"k" * 32
IOT = {"devices": [{"id": "sos-1", "kind": "sos_button", "latitude": 52.52,
                    "longitude": 13.40, "site": "site-a"}]}
TOPIC = "city/devices/sos-1/sos"


@pytest.fixture
def city(tmp_path: Path) -> Iterator[World]:
    # a broker that is never reached: the task is called in-process, nothing is published
    mqtt = {"host": "127.0.0.1", "port": 9, "username": "coordinator", "password": "unused",
            "topic_prefix": "city"}
    world = embedded_world(tmp_path, options={"mqtt": mqtt, "iot": IOT})
    world.set_time(T0)
    yield world
    world.close()


def press(at: datetime) -> str:
    return json.dumps({"time": at.isoformat()})


def test_a_sealed_message_opens_once_and_only_while_fresh() -> None:
    sealed = seal(KEY, TOPIC, press(T0), T0)
    assert open_sealed(KEY, (sealed,), {}, T0 + timedelta(seconds=1), Seen()).topic == TOPIC
    seen = Seen()
    open_sealed(KEY, (sealed,), {}, T0, seen)
    for args, kwargs, now, key, outcome in (
            ((sealed,), {}, T0, KEY, "device_message_replayed"),
            ((sealed,), {}, T0 + MAX_AGE + timedelta(seconds=1), KEY, "device_message_stale"),
            ((sealed,), {}, T0 - timedelta(minutes=1), KEY, "device_message_stale"),
            ((sealed,), {}, T0, b"x" * 32, "device_message_unsealed"),
            (({**sealed, "topic": "city/devices/sos-2/sos"},), {}, T0, KEY,
             "device_message_unsealed"),
            (({**sealed, "received": sealed["received"] + 1},), {}, T0, KEY,
             "device_message_unsealed"),
            ((TOPIC, press(T0)), {}, T0, KEY, "device_message_unsealed"),
            ((), {"topic": TOPIC}, T0, KEY, "device_message_unsealed")):
        with pytest.raises(Unsealed) as refused:
            open_sealed(key, args, kwargs, now, Seen() if outcome != "device_message_replayed"
                        else seen)
        assert refused.value.outcome == outcome


def alerts(world: World) -> int:
    with world.svc.session() as session:
        return int(session.scalar(select(func.count()).select_from(Alert)) or 0)


def test_the_task_stores_what_the_listener_sealed_and_counts_the_rest(city: World) -> None:
    task = worker_app(city.settings, lambda: city.svc).tasks[DEVICE_TASK]
    key = device_key(city.svc.keys)
    assert key not in (city.svc.keys.pseudonym_key,)
    before = city.svc.audit.size()
    # forged from the broker: the old bare arguments, a tag under another key
    assert task(TOPIC, press(T0))["accepted"] == 0
    assert task(seal(b"x" * 32, TOPIC, press(T0), T0))["accepted"] == 0
    sealed = seal(key, TOPIC, press(T0), T0)
    assert task(sealed)["accepted"] == 1
    assert task(sealed)["accepted"] == 0  # replayed
    # sealed, but the press is dated longer ago than past_seconds: stale, not logged
    old = T0 - timedelta(seconds=city.settings.iot.past_seconds + 1)  # type: ignore[union-attr]
    assert task(seal(key, TOPIC, press(old), T0)) == {"accepted": 0, "refused": "stale"}
    assert alerts(city) == 1
    assert anonymous_denials(city.svc) == {"device_message_unsealed": 2,
                                           "device_message_replayed": 1}
    assert city.svc.audit.size() == before  # counted, one entry per interval later


def test_a_press_held_up_by_the_coordinators_own_lag_is_still_taken(city: World) -> None:
    """A worker restart or a broker outage keeps genuine presses in the queue: a press heard at
    T0 and taken 40 minutes later (past ``past_seconds`` of the task's clock, inside the sealed
    message's hour) is stored at its own time; the same press heard an hour and more ago is
    refused."""
    task = worker_app(city.settings, lambda: city.svc).tasks[DEVICE_TASK]
    key = device_key(city.svc.keys)
    heard = seal(key, TOPIC, press(T0), T0)
    city.set_time(T0 + timedelta(minutes=40))
    assert task(heard)["accepted"] == 1
    with city.svc.session() as session:
        assert [a.time.replace(tzinfo=UTC) for a in session.scalars(select(Alert))] == [T0]
    city.set_time(T0 + MAX_AGE + timedelta(minutes=1))
    later = T0 + timedelta(seconds=30)
    assert task(seal(key, TOPIC, press(later), later))["refused"] == "device_message_stale"
    assert alerts(city) == 1
