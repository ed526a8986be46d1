"""How urgent an incident is, from the type of the rule that raised it: one small pure function
so that the control room, the API and the migration that built the first incidents agree.

=========  ==============================================================================
high       ``weapon``, ``aggression``, ``sos`` (a person pressed an SOS button): harm to
           people may be happening now
medium     ``restricted_area``, ``loitering``, ``following``, ``left_object``,
           ``running``, ``stopped_vehicle``, ``air_quality`` (a sensor past its threshold):
           someone should look soon
low        ``occupancy``, ``wrong_way``, ``unusual_behaviour``, ``line_crossing``,
           ``noise`` (a sensor past its threshold), ``bodycam_clip`` (an officer's clip
           taken in after the fact, its still as evidence): a crowd building up, an oddity
           or a record worth a glance, often harmless or already handled on the scene
=========  ==============================================================================

A type this table does not know (a rule added at a node after this coordinator) is medium:
neither buried under the crowd counts nor raised above the weapons."""

from __future__ import annotations

from typing import Literal

from contract.events import BODYCAM_CLIP

Severity = Literal["high", "medium", "low"]
SEVERITIES: tuple[Severity, ...] = ("high", "medium", "low")

_BY_TYPE: dict[str, Severity] = {
    "weapon": "high", "aggression": "high", "sos": "high", "air_quality": "medium",
    "noise": "low",
    "restricted_area": "medium", "loitering": "medium", "following": "medium",
    "left_object": "medium", "running": "medium", "stopped_vehicle": "medium",
    "occupancy": "low", "wrong_way": "low", "unusual_behaviour": "low", "line_crossing": "low",
    BODYCAM_CLIP: "low",
}


def severity(rule_type: str) -> Severity:
    return _BY_TYPE.get(rule_type, "medium")
