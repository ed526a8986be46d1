"""The weapon rule: an object of a weapon class counts for the person holding it or next to it,
confirmed on N of M looks, one event per person; and the rules' configuration errors."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from nodes.analytics.aggression import ALONE
from nodes.analytics.config import CameraAnalytics
from nodes.analytics.weapons import WeaponConfirmer, owner
from privacy.redaction.boxes import Box
from privacy.redaction.objects import DetectedObject

PERSON = (100.0, 100.0, 160.0, 280.0)  # 180 pixels tall
IN_HAND = DetectedObject("knife", 0.6, Box(150, 180, 185, 200))  # sticks out of the box
ON_TABLE = DetectedObject("knife", 0.8, Box(400, 250, 440, 262))  # 240 px from anyone


def looks(confirmer: WeaponConfirmer, seen: str, people: dict[int, tuple[float, ...]] | None = None
          ) -> list[tuple[int, float]]:
    """One look per character of ``seen``: ``k`` the knife in hand, ``.`` nothing."""
    fired = []
    for mark in seen:
        fired += confirmer.update(people or {1: PERSON}, [IN_HAND] if mark == "k" else [])
    return fired


def test_a_weapon_is_confirmed_on_n_of_the_last_m_looks_once():
    assert looks(WeaponConfirmer(["knife"], hits=3, looks=5), "k.k..k.k..") == []  # 2 of 5
    confirmer = WeaponConfirmer(["knife"], hits=3, looks=5)
    fired = looks(confirmer, "k.k.k")
    assert fired == [(1, pytest.approx(0.6))]
    assert looks(confirmer, "kkkkkkkk") == []  # one event per person track
    assert looks(WeaponConfirmer(["knife"], hits=1, looks=1), "k") == [(1, 0.6)]


def test_a_weapon_alone_on_a_table_is_nobodys():
    confirmer = WeaponConfirmer(["knife"], hits=2, looks=3)
    assert [confirmer.update({1: PERSON}, [ON_TABLE]) for _ in range(5)] == [[]] * 5
    assert [confirmer.update({}, [ON_TABLE]) for _ in range(5)] == [[]] * 5


def test_next_to_means_within_reach_of_the_persons_height():
    beside = (175.0, 190.0, 205.0, 200.0)  # 15 px right of the box: 0.08 of 180 px
    assert owner(beside, {1: PERSON}, reach=0.15) == 1
    assert owner(beside, {1: PERSON}, reach=0.05) is None
    assert owner(beside, {1: PERSON, 2: (190.0, 100.0, 250.0, 280.0)}, reach=0.15) == 2


def test_only_the_rules_classes_and_confident_detections_count():
    confirmer = WeaponConfirmer(["baseball bat"], min_score=0.5, hits=1, looks=1)
    bat = DetectedObject("baseball bat", 0.4, Box(90, 120, 110, 230))
    phone = DetectedObject("cell phone", 0.9, Box(140, 120, 150, 135))
    assert confirmer.update({1: PERSON}, [IN_HAND, phone, bat]) == []
    sure = DetectedObject("baseball bat", 0.7, Box(90, 120, 110, 230))
    assert confirmer.update({1: PERSON}, [sure]) == [(1, 0.7)]


def test_people_outside_the_rules_zone_are_not_flagged_but_still_own_their_objects():
    confirmer = WeaponConfirmer(["knife"], hits=1, looks=1)
    assert confirmer.update({1: PERSON}, [IN_HAND], watched=set()) == []
    # the knife is person 1's (outside the zone): person 2, watched, further away, is not armed
    people = {1: PERSON, 2: (200.0, 100.0, 260.0, 280.0)}
    assert confirmer.update(people, [IN_HAND], watched={2}) == []


@pytest.mark.parametrize(("rule", "message"), [
    ({"type": "weapon", "id": "w", "classes": ["gun"]}, "not a COCO object class: 'gun'"),
    ({"type": "weapon", "id": "w", "classes": ["person"]}, "not a COCO object class: 'person'"),
    ({"type": "weapon", "id": "w", "classes": []}, "at least 1 item"),
    ({"type": "weapon", "id": "w", "confirm_hits": 6}, r"confirm_hits \(6\) cannot exceed"),
    ({"type": "weapon", "id": "w", "reach": -1}, "greater than or equal to 0"),
    ({"type": "aggression", "id": "a", "slow": 8}, r"slow \(8.0\) must be below fast"),
    ({"type": "aggression", "id": "a", "threshold": 1}, "less than 1"),
    ({"type": "aggression", "id": "a", "poses_per_second": 0}, "greater than 0"),
    ({"type": "aggression", "id": "a", "zone": "nowhere"}, "no zone 'nowhere'"),
    ({"type": "aggression", "id": "a", "keypoints": "keep"}, "Extra inputs are not permitted"),
])
def test_configuration_errors_name_the_field(rule: dict[str, object], message: str):
    with pytest.raises(ValidationError, match=message):
        CameraAnalytics.model_validate({"rules": [rule]})


def test_defaults_are_valid_and_documented():
    analytics = CameraAnalytics.model_validate(
        {"rules": [{"type": "weapon", "id": "armed"}, {"type": "aggression", "id": "fight"}]})
    weapon, aggression = analytics.rules
    assert weapon.classes == ("knife", "baseball bat")  # type: ignore[union-attr]
    assert (weapon.confirm_hits, weapon.confirm_looks) == (3, 5)  # type: ignore[union-attr]
    assert aggression.threshold > ALONE  # type: ignore[union-attr]  # alone never reaches it
    for model in (type(weapon), type(aggression)):
        assert all(f.description for f in model.model_fields.values())
