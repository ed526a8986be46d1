"""Which outbound actions an alert sets off, as the city chooses per rule: the settings'
``actions`` list (docs/mqtt.md, "Choosing actions per rule"). Each entry matches alerts by
type, rule id, site and camera (an empty list matches any) and names what runs for them: the
MQTT event, webhooks (by id; none listed: every active webhook whose types match) and signage
messages (``signage`` entries, by name). An alert runs the union of the entries it matches,
and nothing when it matches none. Without any ``actions`` entry every alert runs the MQTT
event and every matching webhook, as before this choice existed."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, field_validator

from coordinator.signage import check_template

NAME = r"^[a-z0-9][a-z0-9_-]{0,31}$"
# A topic a sign listens on: levels of printable characters, no wildcards (+, #) and not a
# broker's own $SYS tree (MQTT 3.1.1 sections 4.7.1 and 4.7.2).
TOPIC = re.compile(r"^[^$+#\x00-\x1f/][^+#\x00-\x1f]{0,199}$")


class SignageAction(BaseModel):
    """A digital sign: the message its template renders is published, retained, to its
    topic on the settings' MQTT broker."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME, description="what an `actions` entry calls it")
    topic: str = Field(description="the full MQTT topic the sign subscribes to, e.g. "
                       "city/signage/high-street-north (no wildcards, not $SYS)")
    template: str = Field(min_length=1, max_length=500,
                          description="the message, e.g. \"Road closed at {camera}: {type}\"; "
                          "placeholders from a fixed set (coordinator.signage.FIELDS)")

    @field_validator("topic")
    @classmethod
    def _topic(cls, value: str) -> str:
        if not TOPIC.match(value):
            raise ValueError(f"{value!r} is not a topic a sign can subscribe to: no + or #, "
                             "no control characters, not starting with $ or /")
        return value

    @field_validator("template")
    @classmethod
    def _template(cls, value: str) -> str:
        return check_template(value)


class ActionRule(BaseModel):
    """Alerts that match every filter given run the actions named."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    types: list[str] = Field(default=[], max_length=64,
                             description="alert types (empty: any)")
    rules: list[str] = Field(default=[], max_length=256,
                             description="rule ids, as the nodes' rules name them (empty: any)")
    sites: list[str] = Field(default=[], max_length=256, description="site ids (empty: any)")
    cameras: list[str] = Field(default=[], max_length=1024,
                               description="camera names (empty: any)")
    mqtt: bool = Field(default=False, description="publish the alert's MQTT event")
    webhooks: list[str] | None = Field(
        default=None, max_length=64,
        description="webhook ids to POST to (absent: none; [\"*\"]: every active webhook "
        "whose types match)")
    signage: list[str] = Field(default=[], max_length=64,
                               description="names of `signage` entries to show the alert on")

    def matches(self, type_: str, rule: str | None, site: str, camera: str) -> bool:
        return ((not self.types or type_ in self.types)
                and (not self.rules or rule in self.rules)
                and (not self.sites or site in self.sites)
                and (not self.cameras or camera in self.cameras))


ALL_WEBHOOKS = "*"


@dataclass(frozen=True)
class Choice:
    """What one alert runs. ``webhooks``: ids, or None for every active matching one."""

    mqtt: bool
    webhooks: frozenset[str] | None
    signage: tuple[str, ...]

    def webhook(self, webhook_id: str) -> bool:
        return self.webhooks is None or webhook_id in self.webhooks


def choose(rules: Sequence[ActionRule], type_: str, rule: str | None, site: str,
           camera: str) -> Choice:
    """The union of the actions of every rule the alert matches (none configured: all)."""
    if not rules:
        return Choice(True, None, ())
    matched = [r for r in rules if r.matches(type_, rule, site, camera)]
    every = any(ALL_WEBHOOKS in (r.webhooks or []) for r in matched)
    hooks = frozenset(h for r in matched for h in (r.webhooks or []))
    signs = dict.fromkeys(s for r in matched for s in r.signage)
    return Choice(any(r.mqtt for r in matched), None if every else hooks, tuple(signs))
