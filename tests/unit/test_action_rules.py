"""Choosing actions per rule and signage templates, without a broker: which actions an alert
runs (the union of the rules it matches; nothing when it matches none; everything when no rule
is configured), placeholders limited to a fixed set with no attribute, index, conversion or
format spec, and startup errors that name the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from coordinator.action_rules import ActionRule, Choice, SignageAction, choose
from coordinator.alert_intake import mqtt_targets
from coordinator.config import load_coordinator_settings
from coordinator.signage import check_template, render
from kernel.errors import ConfigError

MQTT = {"host": "broker.city.example"}


def test_no_rule_configured_runs_every_action_as_before() -> None:
    choice = choose([], "loitering", "loitering-1", "site-a", "gate")
    assert choice == Choice(True, None, ()) and choice.webhook("any-id")
    assert mqtt_targets(choice) == ["mqtt"]


def test_an_alert_runs_the_union_of_the_rules_it_matches_and_nothing_else() -> None:
    rules = [ActionRule(types=["restricted_area"], cameras=["gate"], webhooks=["hook-a"],
                        signage=["closure"]),
             ActionRule(rules=["crowd-7"], sites=["site-b"], mqtt=True, signage=["closure",
                                                                              "detour"]),
             ActionRule(types=["running"], webhooks=["*"])]
    gate = choose(rules, "restricted_area", "restricted_area-1", "site-a", "gate")
    assert gate == Choice(False, frozenset({"hook-a"}), ("closure",))
    assert gate.webhook("hook-a") and not gate.webhook("hook-b")
    assert mqtt_targets(gate) == ["signage:closure"]
    # the same type at another camera matches no rule: nothing runs
    other = choose(rules, "restricted_area", "restricted_area-1", "site-a", "exit")
    assert other == Choice(False, frozenset(), ()) and mqtt_targets(other) == []
    # a rule id at its site only; signs named twice are published once
    both = choose([*rules, ActionRule(rules=["crowd-7"], signage=["closure"])],
                  "occupancy", "crowd-7", "site-b", "square")
    assert both.mqtt and both.signage == ("closure", "detour")
    assert not choose(rules, "occupancy", "crowd-7", "site-a", "square").mqtt
    assert choose(rules, "running", None, "site-a", "gate").webhook("whatever")


@pytest.mark.parametrize("template", [
    "{camera.__class__}", "{camera[0]}", "{camera!r}", "{count:>99999}", "{0}", "{}",
    "{password}", "{tokens}", "Road closed {", "} at {camera}"])
def test_a_template_names_only_bare_safe_fields(template: str) -> None:
    with pytest.raises(ValueError):
        check_template(template)


def test_a_template_renders_by_substitution_not_format() -> None:
    template = check_template("Road closed at {camera}: {type} {{zone {zone}}}")
    assert render(template, {"camera": "gate", "type": "restricted_area", "zone": None}) == \
        "Road closed at gate: restricted_area {zone }"
    # a value that looks like a placeholder stays text
    assert render(check_template("{camera}"), {"camera": "{type.__class__}"}) == \
        "{type.__class__}"


def settings_error(tmp_path: Path, **options: object) -> str:
    with pytest.raises(ConfigError) as caught:
        load_coordinator_settings(None, data_dir=tmp_path, **options)
    return str(caught.value)


def test_startup_errors_name_the_setting(tmp_path: Path) -> None:
    sign = {"name": "closure", "topic": "city/signage/high-street", "template": "{camera}"}
    assert "signage.0.template" in settings_error(
        tmp_path, mqtt=MQTT, signage=[{**sign, "template": "{camera.__init__}"}])
    assert "signage.0.topic" in settings_error(
        tmp_path, mqtt=MQTT, signage=[{**sign, "topic": "city/signage/#"}])
    assert "actions.1.signage: 'detour'" in settings_error(
        tmp_path, mqtt=MQTT, signage=[sign],
        actions=[{"signage": ["closure"]}, {"signage": ["detour"]}])
    assert "configure [mqtt]" in settings_error(tmp_path, signage=[sign])
    assert "actions.0.mqtt" in settings_error(tmp_path, actions=[{"mqtt": True}])
    assert "used twice" in settings_error(tmp_path, mqtt=MQTT, signage=[sign, sign])
    assert "actions.0.kind" in settings_error(tmp_path, actions=[{"kind": "lamp"}])
    loaded = load_coordinator_settings(None, data_dir=tmp_path, mqtt=MQTT, signage=[sign],
                                       actions=[{"types": ["running"], "signage": ["closure"]}])
    assert loaded.signage == [SignageAction(**sign)]
