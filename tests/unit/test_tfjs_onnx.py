"""The TensorFlow-free TF.js -> ONNX translator (nodes/tfjs_onnx): the installed models against
TensorFlow.js's own outputs (tests/data/tfjs_reference, see its SOURCE.md), and a small graph
built here for what the real models do not show (dynamic input size, determinism, errors)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from nodes.tfjs_onnx import ConversionError, convert
from nodes.tfjs_onnx.graph_model import read_graph_model
from nodes.tfjs_onnx.shapes import dynamic_reshape_target
from privacy import model_registry
from tests.support.tfjs_models import mean_model, small_model

REFERENCE = Path(__file__).parent.parent / "data" / "tfjs_reference" / "reference.json"


def _fixed_input(shape: list[int], low: float, span: float) -> np.ndarray:
    """The input reference.js feeds TensorFlow.js (SOURCE.md): a formula, no random numbers."""
    index = np.arange(int(np.prod(shape)), dtype=np.int64)
    return (((index * 7919) % 251) / 250 * span + low).astype(np.float32).reshape(shape)


@pytest.mark.parametrize("name", ["nanodet", "blazepose-lite"])
def test_installed_model_reproduces_tensorflow_js(model_dir: Path, name: str) -> None:
    expected = json.loads(REFERENCE.read_text())["models"][name]
    spec = expected["input"]
    session = ort.InferenceSession(str(model_registry.model_path(name, model_dir)),
                                   providers=["CPUExecutionProvider"])
    outputs = [o.name for o in session.get_outputs()]
    results = dict(zip(outputs, session.run(None, {spec["input"]: _fixed_input(
        spec["shape"], spec["low"], spec["span"])}), strict=True))
    assert sorted(results) == sorted(expected["outputs"])
    for key, want in expected["outputs"].items():
        got = results[key]
        assert list(got.shape) == want["shape"], key
        # float32 sums in another order: errors measured up to 6e-6 (SOURCE.md); a wrong layout,
        # padding or resize is off by whole units
        tolerance = 1e-4 * max(1.0, abs(want["max"]))
        np.testing.assert_allclose(got.reshape(-1)[want["index"]], want["value"], rtol=0,
                                   atol=tolerance, err_msg=key)
        assert abs(float(got.max()) - want["max"]) <= tolerance, key
        assert abs(float(got.mean()) - want["mean"]) <= tolerance, key


def _run(model: bytes, x: np.ndarray) -> list[np.ndarray]:
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    return [np.asarray(r) for r in session.run(None, {"x": x})]


def test_conversion_is_byte_identical_every_run() -> None:
    document, shards = small_model(16, 16)
    first = convert(document, shards, {1: "height", 2: "width"})
    assert convert(document, shards, {1: "height", 2: "width"}) == first
    assert convert(document, shards) != first  # the dynamic axes are part of what is pinned


def test_dynamic_size_model_equals_the_model_made_for_that_size() -> None:
    """Resizes become scale factors and the fixed reshape gets -1: at another input size the
    dynamic model computes what a model exported at that size computes."""
    document, shards = small_model(16, 16)
    dynamic = convert(document, shards, {1: "height", 2: "width"})
    for height, width in [(16, 16), (32, 24), (48, 64)]:
        x = np.random.default_rng(height).random((1, height, width, 3), dtype=np.float32)
        fixed_document, fixed_shards = small_model(height, width)
        want = _run(convert(fixed_document, fixed_shards), x)
        got = _run(dynamic, x)
        assert [g.shape for g in got] == [w.shape for w in want]
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(g, w, rtol=0, atol=1e-5)


def test_mean_over_height_and_width_in_either_layout() -> None:
    """Squeeze-and-excite's ``Mean`` (MobileNetV3, e.g. the CenterNet of the Human models
    package) on a tensor the translator stores NCHW, keeping the axes, and on the NHWC input,
    dropping them: both equal numpy's, and the kept one adds no transpose."""
    x = np.random.default_rng(3).random((1, 8, 6, 3), dtype=np.float32)
    model = convert(*mean_model(8, 6))
    scaled, pooled = _run(model, x)
    pooled_map = x.reshape(1, 4, 2, 3, 2, 3).max(axis=(2, 4))  # MaxPool 2x2, stride 2
    np.testing.assert_allclose(scaled, pooled_map * pooled_map.mean(axis=(1, 2), keepdims=True),
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(pooled, x.mean(axis=(1, 2)), rtol=1e-6, atol=1e-6)
    reduce_inputs = [n.input[0] for n in onnx.load_from_string(model).graph.node
                     if n.op_type == "ReduceMean"]
    assert reduce_inputs[0] == "mp"  # the pool's own NCHW output, not a transpose of it


def test_static_model_refuses_another_size() -> None:
    document, shards = small_model(16, 16)
    session = ort.InferenceSession(convert(document, shards), providers=["CPUExecutionProvider"])
    with pytest.raises(Exception, match=r"(?i)dimension|shape"):
        session.run(None, {"x": np.zeros((1, 32, 32, 3), np.float32)})


def test_float16_weights_are_widened_exactly() -> None:
    document, shards = small_model(16, 16, quantise="float16")
    graph = read_graph_model(document, shards)
    plain = read_graph_model(*small_model(16, 16))
    for name in ("k1", "b1", "k2"):
        assert graph.constants[name].dtype == np.float32
        np.testing.assert_array_equal(graph.constants[name],
                                      plain.constants[name].astype(np.float16).astype(np.float32))


def test_uint8_weights_are_dequantised_affinely() -> None:
    document = {"format": "graph-model", "modelTopology": {"node": [
        {"name": "w", "op": "Const"}]}, "weightsManifest": [{"paths": ["w.bin"], "weights": [
            {"name": "w", "shape": [4], "dtype": "float32",
             "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1.0}}]}]}
    graph = read_graph_model(json.dumps(document).encode(), {"w.bin": bytes([0, 1, 2, 255])})
    np.testing.assert_array_equal(graph.constants["w"], [-1.0, -0.5, 0.0, 126.5])


def test_unsupported_op_and_missing_shard_are_named() -> None:
    document, shards = small_model(16, 16)
    text = document.decode().replace('"op": "Sigmoid"', '"op": "Softplus"')
    with pytest.raises(ConversionError, match=r"op Softplus .*not supported"):
        convert(text.encode(), shards)
    with pytest.raises(ConversionError, match=r"weight shard small\.bin is missing"):
        convert(document, {})
    with pytest.raises(ConversionError, match=r"weight k[0-9] runs past the end of its shard"):
        convert(document, {"small.bin": shards["small.bin"][:-100]})
    with pytest.raises(ConversionError, match="the manifest describes"):
        convert(document, {"small.bin": shards["small.bin"] + b"\0"})


def test_fixed_reshape_target_follows_the_input_only_where_it_must() -> None:
    assert dynamic_reshape_target((1, 80, 169), (1, 80, 13, 13), (1, 80, 26, 26)) == (1, 80, -1)
    assert dynamic_reshape_target((1, 2704, 4), (1, 52, 52, 4), (1, 104, 104, 4)) == (1, -1, 4)
    assert dynamic_reshape_target((2, 195), (2, 1, 1, 195), (2, 1, 1, 195)) == (2, 195)
    with pytest.raises(ConversionError, match="at most one"):
        dynamic_reshape_target((13, 13), (13, 13), (26, 26))
