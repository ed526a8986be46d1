"""Node events for the incident tests: signed batches from an enrolled node of a test world,
at chosen event times, taken in as the coordinator's worker takes them."""

from __future__ import annotations

from datetime import datetime
from itertools import count
from typing import Any

from coordinator.alert_intake import Intake, accept
from nodes.event_sender import message
from nodes.events import StoredEvent
from nodes.identity import load_identity
from tests.support.world import World

_seq = count(1)


def event(time: datetime, type_: str = "restricted_area", camera: str = "gate",
          zone: str | None = "platform", rule: str | None = None,
          line: str | None = None) -> StoredEvent:
    return StoredEvent(type=type_, rule=rule or f"{type_}-1", camera=camera, zone=zone,
                       line=line, direction="in" if line else None, time=time, count=1,
                       tokens=("0123456789abcdef",), seq=next(_seq))


def batch(world: World, events: list[StoredEvent], node: str = "alpha") -> dict[str, Any]:
    enrolled = world.nodes[node]
    return message(events, enrolled.node_id, enrolled.settings.site_id,
                   load_identity(enrolled.settings.keys_dir).signing)


def send(world: World, events: list[StoredEvent], node: str = "alpha") -> Intake:
    return accept(world.svc, batch(world, events, node))
