from __future__ import annotations

import os
from pathlib import Path

import pytest

from nodes.sources.synthetic import SceneSpec, write_scene_video
from privacy import model_registry
from privacy.redaction.engine import Detectors
from privacy.redaction.policy import RedactionPolicy


@pytest.fixture(scope="session")
def model_dir() -> Path:
    """The model cache the README's test command filled (`safecity models install`)."""
    path = Path(os.environ.get("SAFECITY_MODEL_DIR") or model_registry.default_cache_dir())
    states = model_registry.status(path)
    assert all(s == "ok" for s in states.values()), (
        f"models not installed in {path}: {states}; run `safecity models install`"
    )
    return path


@pytest.fixture(scope="session")
def policy() -> RedactionPolicy:
    return RedactionPolicy()


@pytest.fixture(scope="session")
def detectors(policy: RedactionPolicy, model_dir: Path) -> Detectors:
    return Detectors(policy, model_dir)


@pytest.fixture(scope="session")
def scene_video(tmp_path_factory: pytest.TempPathFactory):
    """A 2-second 640x360 street clip with audio, faces and plates, and its ground truth."""
    spec = SceneSpec(width=640, height=360, seconds=2.0, people=4, vehicles=2,
                     face_sizes=(32, 80), plate_widths=(90, 140), seed=4)
    path = tmp_path_factory.mktemp("video") / "street.mp4"
    truth = write_scene_video(path, spec)
    return path, spec, truth
