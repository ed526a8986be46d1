"""Default redaction on the hand-labelled real images: every visible face hidden (the target).

Measured in session 11 with detection on each labelled image alone (this test): 6 of 78 visible
faces covered >= 90% (0.08); through the stream on the whole clip (bench/detection_accuracy.py)
9 of 72 vtest faces and 4 of 6 in the photos. With heads hidden from NanoDet's person boxes where
the face detector misses them (issue 22): 67 of 78 here (0.86), 75 of 78 at least half hidden.
The target does not hold yet: the test is marked xfail (strict, so it fails once the target is
met and the mark must go).
"""

from __future__ import annotations

import pytest

from privacy.redaction.engine import Detectors, redact_image
from privacy.redaction.policy import RedactionPolicy
from simulation.detection_scores import coverage, hidden_mask
from simulation.real_images import frames, still
from simulation.real_labels import load


@pytest.mark.slow
@pytest.mark.xfail(strict=True, raises=AssertionError,
                   reason="target not met today: 67 of 78 visible faces hidden (issue 22)")
def test_default_redaction_hides_99_percent_of_visible_labelled_faces(
        detectors: Detectors, policy: RedactionPolicy) -> None:
    labels = load()
    wanted = {i.frame: i for i in labels.from_source("vtest")}
    pictures = [(image, pixels) for index, pixels in frames(wanted[25].source)
                if (image := wanted.get(index)) is not None]
    pictures += [(image, still(image)) for image in labels.images if image.frame is None]
    shares = []
    for image, pixels in pictures:
        done = redact_image(pixels.copy(), detectors, policy)
        mask = hidden_mask(image.width, image.height, [tuple(r.box) for r in done.regions])
        shares += [coverage(tuple(map(float, o.box)), mask) for o in image.of("face")
                   if "back_of_head" not in o.flags]
    assert len(shares) >= 70
    hidden = sum(s >= 0.9 for s in shares) / len(shares)
    assert hidden >= 0.99, f"{hidden:.2f} of {len(shares)} visible faces hidden"
