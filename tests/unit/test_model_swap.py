"""The bytes a model's pin is checked on are the bytes the node runs: a model file swapped in the
cache right after its check (a time-of-check to time-of-use race, CWE-367; the outside review of
December 2026, issue 22) is never read. The swap is injected at the one point an attacker who
can write to the cache would aim for, just after ``verified_model`` has read the file; the
models are the real ones, loaded by the node's own loaders."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest

from nodes.analytics.aggression_watch import BlazePose, load_threat_models
from nodes.analytics.config import CameraAnalytics
from privacy import model_registry
from privacy.redaction.engine import Detectors
from privacy.redaction.objects import ObjectDetector
from privacy.redaction.policy import RedactionPolicy

ALTERED = "altered-in-the-cache"


def _swap_after_check(monkeypatch: pytest.MonkeyPatch, replacement: Callable[[Path], bytes]
                      ) -> list[str]:
    """Replace each model file just after ``verified_model`` has checked it; the names swapped."""
    check = model_registry.verified_model
    swapped: list[str] = []

    def check_then_swap(name: str, cache_dir: Path) -> model_registry.VerifiedModel:
        model = check(name, cache_dir)
        model.path.write_bytes(replacement(model.path))
        swapped.append(name)
        return model

    monkeypatch.setattr(model_registry, "verified_model", check_then_swap)
    return swapped


def _relabelled(path: Path) -> bytes:
    """The same network under another producer name: it loads, and shows which file was run."""
    model = onnx.load(str(path))
    model.producer_name = ALTERED
    return model.SerializeToString()


def _copy(model_dir: Path, tmp_path: Path, *names: str) -> Path:
    for name in names:
        filename = model_registry.REGISTRY[name].filename
        shutil.copy(model_dir / filename, tmp_path / filename)
    return tmp_path


def test_threat_models_run_what_was_checked(model_dir: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    cache = _copy(model_dir, tmp_path, "nanodet", "blazepose-lite")
    swapped = _swap_after_check(monkeypatch, _relabelled)
    cameras = [CameraAnalytics.model_validate({"rules": [
        {"type": "aggression", "id": "fight"}, {"type": "weapon", "id": "armed"}]})]
    models = load_threat_models(cameras, cache)
    assert models is not None and models.pose is not None and models.objects is not None
    assert sorted(swapped) == ["blazepose-lite", "nanodet"]
    status = model_registry.status(cache)
    assert (status["nanodet"], status["blazepose-lite"]) == ("altered", "altered")
    assert isinstance(models.pose, BlazePose) and isinstance(models.objects, ObjectDetector)
    sessions = [models.pose.estimator._session, models.objects._session]
    assert [s.get_modelmeta().producer_name for s in sessions] == ["safecity.tfjs_onnx"] * 2


def test_redaction_runs_what_was_checked(model_dir: Path, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A face model swapped for junk after its check still redacts: the junk is never read."""
    cache = _copy(model_dir, tmp_path, "centerface", "ppocr-det", "nanodet")
    swapped = _swap_after_check(monkeypatch, lambda path: b"not a model")
    detectors = Detectors(RedactionPolicy(), cache)
    assert sorted(swapped) == ["centerface", "nanodet", "ppocr-det"]
    assert detectors.face is not None and detectors.plate is not None
    assert detectors.detect(np.zeros((360, 640, 3), np.uint8)) == []


def test_a_verified_model_is_its_checked_bytes(model_dir: Path, tmp_path: Path) -> None:
    cache = _copy(model_dir, tmp_path, "nanodet")
    model = model_registry.verified_model("nanodet", cache)
    assert model.data == (model_dir / "nanodet.onnx").read_bytes()
    assert str(model) == str(cache / "nanodet.onnx")
