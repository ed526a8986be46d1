"""The hand-labelled real ground truth is well-formed, and the scoring on it counts right."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from simulation.detection_scores import DetectionScore, coverage, hidden_mask, matched
from simulation.real_labels import CLASSES, LABELS, LabelsError, load, parse


def raw() -> dict:
    return json.loads(LABELS.read_text())


def test_every_box_lies_inside_its_image_and_every_class_is_known() -> None:
    labels = load()
    assert labels.labelled_by == "hand-labelled by the safecity team, session 11"
    for image in labels.images:
        for o in image.objects:
            x1, y1, x2, y2 = o.box
            assert 0 <= x1 < x2 <= image.width and 0 <= y1 < y2 <= image.height, image.id
            assert o.cls in CLASSES
            assert "back_of_head" not in o.flags or o.cls == "face", image.id


def test_vtest_frames_are_spread_over_the_clip_and_hold_people_and_faces() -> None:
    clip = load().from_source("vtest")
    indices = sorted(i.frame for i in clip if i.frame is not None)
    assert len(indices) >= 16 and indices[-1] - indices[0] >= 700  # the clip has 795 frames
    assert all(i.of("person") and i.of("face") for i in clip)


def test_a_held_out_split_shares_no_source_with_dev_and_holds_plates_and_faces() -> None:
    labels = load()
    dev, held = labels.split("dev"), labels.split("held-out")
    assert len(dev) + len(held) == len(labels.images)
    assert not {i.source.name for i in dev} & {i.source.name for i in held}
    assert not {i.source.sha256 for i in dev} & {i.source.sha256 for i in held}
    faces = [o for i in held for o in i.of("face") if "back_of_head" not in o.flags]
    plates = [o for i in held for o in i.of("plate")]
    assert len(faces) >= 30 and len(plates) >= 15
    assert {i.source.kind for i in held} >= {"wheel", "sdist", "npm"}
    for image in held:  # every archive-borne image names the archive and its digest
        if image.source.kind in ("sdist", "npm"):
            assert image.source.archive and image.source.archive_sha256, image.id


@pytest.mark.parametrize(("path", "value", "message"), [
    (("images", 0, "objects", 0, "box"), [700, 40, 800, 90], "outside the 768x576"),
    (("images", 0, "objects", 0, "box"), [10, 10, 10, 20], "empty"),
    (("images", 0, "objects", 0, "class"), "dog", "unknown class"),
    (("images", 0, "objects", 0, "flags"), ["blurry"], "unknown flags"),
    (("images", 0, "source"), "nowhere", "unknown source"),
    (("sources", "vtest", "sha256"), "abc", "not a SHA-256"),
    (("images", 0, "split"), "test", "split must be one of"),
    (("sources", "litealpr-wild-10", "archive_sha256"), "abc", "not a SHA-256"),
])
def test_a_malformed_labels_file_is_refused_naming_the_fault(path, value, message) -> None:
    broken = copy.deepcopy(raw())
    target = broken
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(LabelsError, match=message):
        parse(broken)


def test_boxes_pair_one_to_one_at_the_threshold() -> None:
    truth = [(0.0, 0.0, 10.0, 20.0), (50.0, 0.0, 60.0, 20.0)]
    # one detection covers both people (a merged blob): it can match only one of them
    assert matched(truth, [(0.0, 0.0, 60.0, 20.0)], 0.1) == 1
    assert matched(truth, [(0.0, 0.0, 10.0, 14.0)], 0.5) == 1  # IoU 0.7
    assert matched(truth, [(0.0, 0.0, 10.0, 8.0)], 0.5) == 0  # IoU 0.4
    score = DetectionScore(0.5)
    score.add(truth, [(0.0, 0.0, 10.0, 20.0), (100.0, 0.0, 110.0, 20.0), (200.0, 0, 210, 20)])
    assert (score.recall, score.precision, score.mean_count_error) == (0.5, 1 / 3, 1.0)
    # recall in view counts only the labelled boxes shown whole: the missed one was hidden
    score.add(truth, [(0.0, 0.0, 10.0, 20.0)], in_view=[True, False])
    assert (score.labelled_in_view, score.matched_in_view) == (3, 2)
    assert score.recall_in_view == pytest.approx(2 / 3) and score.recall == pytest.approx(0.5)


def test_coverage_is_the_hidden_share_of_a_box() -> None:
    mask = hidden_mask(100, 50, [(0.0, 0.0, 30.0, 50.0), (-5.0, -5.0, 2.0, 2.0)])
    assert mask.shape == (50, 100) and mask[:, :30].all() and not mask[:, 30:].any()
    assert coverage((20.0, 10.0, 40.0, 20.0), mask) == pytest.approx(0.5)
    assert coverage((50.0, 0.0, 60.0, 10.0), np.ones((50, 100), bool)) == 1.0
