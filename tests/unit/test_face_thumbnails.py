"""Face search thumbnails hide bystanders too small to match."""

from __future__ import annotations

from pathlib import Path


def test_a_bystander_too_small_to_match_is_still_hidden_in_the_thumbnail(model_dir: Path
                                                                          ) -> None:
    """Found by the red team: a face the detector found but smaller than MIN_FACE was left
    visible beside the match in the thumbnail sent to the analyst."""
    import cv2
    import numpy as np

    from nodes.inbox.face_search import MIN_FACE, frame_matches
    from privacy import model_registry
    from privacy.face_match import FaceMatcher
    from privacy.redaction.faces import CenterFaceDetector
    from simulation.synthetic import face_crops

    crops = face_crops()
    image = np.full((360, 640, 3), 120, np.uint8)
    image[100:190, 250:340] = cv2.cvtColor(cv2.resize(crops[33], (90, 90)), cv2.COLOR_GRAY2BGR)
    bystander = cv2.cvtColor(cv2.resize(crops[5], (22, 22)), cv2.COLOR_GRAY2BGR)
    image[120:142, 372:394] = bystander  # beside the match: inside the thumbnail's crop
    detector = CenterFaceDetector(model_registry.model_path("centerface", model_dir),
                                  threshold=0.5, input_width=1280)
    small = [d.box for d in detector.detect(image) if min(d.box.width, d.box.height) < MIN_FACE]
    assert small, "the bystander's face is found (and under MIN_FACE)"
    matcher = FaceMatcher(model_dir)
    reference = matcher.describe(image, max((d.box for d in detector.detect(image)),
                                            key=lambda b: b.area))
    (target, _, thumb), = frame_matches(image, {"suspect": reference}, detector, matcher)
    shown = cv2.imdecode(np.frombuffer(thumb, np.uint8), cv2.IMREAD_COLOR)
    assert target == "suspect"
    # where the bystander's face falls in the thumbnail (the match's box enlarged, rescaled)
    match = max((d.box for d in detector.detect(image)), key=lambda b: b.area)
    crop = match.enlarged(1.0).clipped(640, 360)
    scale = shown.shape[1] / crop.width
    x0, y0 = int((372 - crop.x1) * scale), int((120 - crop.y1) * scale)
    there = shown[y0:y0 + int(22 * scale), x0:x0 + int(22 * scale)]
    assert there.size and there.max() < 40, "the bystander is visible in the thumbnail"
