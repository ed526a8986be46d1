"""A site's own ONNX detector behind the detector interface: a small grid detector built here
with the `onnx` package (each 16x16 cell of a 64x64 input is a box scored by its brightness)
is loaded, run by onnxruntime on real frames and its boxes come back in frame pixels; broken
models and configurations are refused with a message naming what is wrong."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from pydantic import ValidationError

from kernel.errors import ConfigError
from nodes.analytics.config import CameraAnalytics
from nodes.analytics.detection import Gated, OnnxDetector, make_detector

SIZE, CELL = 64, 16


def grid_detector(path: Path, input_shape: list[int] | None = None) -> Path:
    cells = SIZE // CELL
    boxes = np.array([[x * CELL, y * CELL, (x + 1) * CELL, (y + 1) * CELL]
                      for y in range(cells) for x in range(cells)], np.float32)
    classes = np.array([[i % 2] for i in range(cells * cells)], np.float32)  # person, vehicle
    nodes = [
        helper.make_node("ReduceMean", ["image", "axes"], ["gray"], keepdims=1),
        helper.make_node("AveragePool", ["gray"], ["cells"], kernel_shape=[CELL, CELL],
                         strides=[CELL, CELL]),
        helper.make_node("Reshape", ["cells", "column"], ["scores"]),
        helper.make_node("Concat", ["boxes", "scores", "classes"], ["detections"], axis=1),
    ]
    graph = helper.make_graph(
        nodes, "grid-detector",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT,
                                       input_shape or [1, 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("detections", TensorProto.FLOAT, [cells * cells, 6])],
        initializer=[numpy_helper.from_array(np.array([1], np.int64), "axes"),
                     numpy_helper.from_array(np.array([-1, 1], np.int64), "column"),
                     numpy_helper.from_array(boxes, "boxes"),
                     numpy_helper.from_array(classes, "classes")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def test_a_sites_own_model_finds_what_it_was_built_to_find(tmp_path: Path) -> None:
    detector = OnnxDetector(grid_detector(tmp_path / "grid.onnx"), ("person", "vehicle"), 0.5)
    frame = np.zeros((240, 320, 3), np.uint8)
    frame[60:120, 80:160] = 255  # exactly cell (1, 1) of the 4x4 grid
    found = detector.detect(frame)
    assert len(found) == 1
    (x1, y1, x2, y2), kind = found[0].box, found[0].kind
    assert (x1, y1, x2, y2) == pytest.approx((80, 60, 160, 120))
    assert kind == "vehicle" and found[0].score == pytest.approx(1.0)  # class 5 % 2 = 1
    assert detector.detect(np.zeros((240, 320, 3), np.uint8)) == []


def test_the_config_loads_it_behind_the_motion_gate(tmp_path: Path) -> None:
    model = grid_detector(tmp_path / "grid.onnx")
    analytics = CameraAnalytics.model_validate(
        {"detector": "onnx", "onnx": {"path": str(model), "classes": ["person", "vehicle"]}})
    detector = make_detector(analytics, fps=10)
    assert isinstance(detector, Gated) and isinstance(detector.detector, OnnxDetector)
    with pytest.raises(ValidationError, match="detector"):
        CameraAnalytics.model_validate({"detector": "onnx"})
    with pytest.raises(ValidationError, match="detector"):
        CameraAnalytics.model_validate({"onnx": {"path": str(model)}})


def test_broken_models_are_refused_with_the_reason(tmp_path: Path) -> None:
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(ConfigError, match=r"junk\.onnx: not a usable ONNX model"):
        OnnxDetector(junk, ("person",))
    gray = grid_detector(tmp_path / "gray.onnx", [1, 1, SIZE, SIZE])
    with pytest.raises(ConfigError, match=r"\[1, 3, H, W\]"):
        OnnxDetector(gray, ("person",))
