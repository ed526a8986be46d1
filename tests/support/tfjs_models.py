"""A small TensorFlow.js graph model, written the way tensorflowjs_converter writes one
(model.json with base64 attributes, one weight shard), for the translator's and the installer's
tests: it uses every kind of op the registry's models use, at a size chosen by the test."""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np


def _attr_list(key: str, values: list[Any]) -> dict[str, Any]:
    return {"list": {key: values}}


def _s(text: str) -> dict[str, str]:
    return {"s": base64.b64encode(text.encode()).decode()}


def _conv_attrs(strides: int, padding: str, fused: list[str] | None = None) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "strides": _attr_list("i", ["1", str(strides), str(strides), "1"]),
        "padding": _s(padding), "data_format": _s("NHWC"),
        "dilations": _attr_list("i", ["1", "1", "1", "1"]),
    }
    if fused:
        attrs["fused_ops"] = _attr_list("s", [_s(op)["s"] for op in fused])
        attrs["num_args"] = {"i": "1"}
    return attrs


def small_model(height: int, width: int, quantise: str | None = None) -> tuple[bytes, dict]:
    """NHWC input -> Pad -> fused conv (stride 2, Relu6) -> fused depthwise (SAME, Relu) ->
    Conv2D + Add bias (stride 2, SAME) -> ResizeBilinear x2 -> ConcatV2 -> MaxPool -> fixed
    Reshape -> Sigmoid; and a Transpose -> SplitV -> LeakyRelu branch."""
    rng = np.random.default_rng(7)
    weights = {
        "k1": rng.normal(0, 0.5, (3, 3, 3, 4)), "b1": rng.normal(0, 0.1, 4),
        "k2": rng.normal(0, 0.5, (3, 3, 4, 2)), "b2": rng.normal(0, 0.1, 8),
        "k3": rng.normal(0, 0.5, (1, 1, 8, 4)), "b3": rng.normal(0, 0.1, 4),
    }
    half_h, half_w = (height + 2 - 3) // 2 + 1, (width + 2 - 3) // 2 + 1
    ints = {
        "pads": np.array([[0, 0], [1, 1], [1, 1], [0, 0]]),
        "size": np.array([half_h, half_w]), "axis": np.array(3),
        "shape": np.array([1, (half_h // 2) * (half_w // 2) * 8]),
        "perm": np.array([0, 3, 1, 2]), "sizes": np.array([3, 5]), "split_dim": np.array(1),
    }
    nodes: list[dict[str, Any]] = [
        {"name": "x", "op": "Placeholder", "attr": {"shape": {"shape": {"dim": [
            {"size": "1"}, {"size": str(height)}, {"size": str(width)}, {"size": "3"}]}}}},
        *({"name": n, "op": "Const", "attr": {}} for n in [*weights, *ints]),
        {"name": "pad", "op": "Pad", "input": ["x", "pads"]},
        {"name": "c1", "op": "_FusedConv2D", "input": ["pad", "k1", "b1"],
         "attr": _conv_attrs(2, "VALID", ["BiasAdd", "Relu6"])},
        {"name": "d1", "op": "FusedDepthwiseConv2dNative", "input": ["c1", "k2", "b2"],
         "attr": _conv_attrs(1, "SAME", ["BiasAdd", "Relu"])},
        {"name": "c2", "op": "Conv2D", "input": ["d1", "k3"], "attr": _conv_attrs(2, "SAME")},
        {"name": "a2", "op": "AddV2", "input": ["c2", "b3"]},
        {"name": "up", "op": "ResizeBilinear", "input": ["a2", "size"],
         "attr": {"half_pixel_centers": {"b": True}, "align_corners": {"b": False}}},
        {"name": "cat", "op": "ConcatV2", "input": ["up", "c1", "axis"]},
        {"name": "mp", "op": "MaxPool", "input": ["cat"],
         "attr": {"ksize": _attr_list("i", ["1", "2", "2", "1"]),
                  **{k: v for k, v in _conv_attrs(2, "VALID").items() if k != "dilations"}}},
        {"name": "flat", "op": "Reshape", "input": ["mp", "shape"]},
        {"name": "sig", "op": "Sigmoid", "input": ["flat"]},
        {"name": "t", "op": "Transpose", "input": ["cat", "perm"]},
        {"name": "sp", "op": "SplitV", "input": ["t", "sizes", "split_dim"],
         "attr": {"num_split": {"i": "2"}}},
        {"name": "lr", "op": "LeakyRelu", "input": ["sp:1"], "attr": {"alpha": {"f": 0.1}}},
        {"name": "Identity", "op": "Identity", "input": ["sig"]},
        {"name": "Identity_1", "op": "Identity", "input": ["lr"]},
    ]
    manifest, blob = [], b""
    for name, value in weights.items():
        entry: dict[str, Any] = {"name": name, "shape": list(value.shape), "dtype": "float32"}
        if quantise == "float16":
            blob += value.astype("<f2").tobytes()
            entry["quantization"] = {"dtype": "float16", "original_dtype": "float32"}
        else:
            blob += value.astype("<f4").tobytes()
        manifest.append(entry)
    for name, value in ints.items():
        manifest.append({"name": name, "shape": list(value.shape), "dtype": "int32"})
        blob += value.astype("<i4").tobytes()
    document = {
        "format": "graph-model", "modelTopology": {"node": nodes},
        "weightsManifest": [{"paths": ["small.bin"], "weights": manifest}],
        "signature": {
            "inputs": {"x": {"name": "x:0", "tensorShape": {"dim": [
                {"size": "1"}, {"size": str(height)}, {"size": str(width)}, {"size": "3"}]}}},
            "outputs": {"Identity:0": {"name": "Identity:0"},
                        "Identity_1:0": {"name": "Identity_1:0"}},
        },
    }
    return json.dumps(document).encode(), {"small.bin": blob}


def mean_model(height: int, width: int) -> tuple[bytes, dict]:
    """MobileNetV3's squeeze-and-excite pooling: NHWC input -> MaxPool 2x2 (the translator keeps
    it NCHW) -> ``Mean`` over height and width keeping them -> Mul with the pooled map; and a
    ``Mean`` of the input over height and width dropping them (``[1, 3]``)."""
    axes = np.array([1, 2])
    nodes: list[dict[str, Any]] = [
        {"name": "x", "op": "Placeholder", "attr": {"shape": {"shape": {"dim": [
            {"size": "1"}, {"size": str(height)}, {"size": str(width)}, {"size": "3"}]}}}},
        {"name": "axes", "op": "Const", "attr": {}},
        {"name": "mp", "op": "MaxPool", "input": ["x"],
         "attr": {"ksize": _attr_list("i", ["1", "2", "2", "1"]),
                  **{k: v for k, v in _conv_attrs(2, "VALID").items() if k != "dilations"}}},
        {"name": "se", "op": "Mean", "input": ["mp", "axes"], "attr": {"keep_dims": {"b": True}}},
        {"name": "scaled", "op": "Mul", "input": ["mp", "se"]},
        {"name": "pooled", "op": "Mean", "input": ["x", "axes"],
         "attr": {"keep_dims": {"b": False}}},
        {"name": "Identity", "op": "Identity", "input": ["scaled"]},
        {"name": "Identity_1", "op": "Identity", "input": ["pooled"]},
    ]
    document = {
        "format": "graph-model", "modelTopology": {"node": nodes},
        "weightsManifest": [{"paths": ["mean.bin"], "weights": [
            {"name": "axes", "shape": [2], "dtype": "int32"}]}],
        "signature": {
            "inputs": {"x": {"name": "x:0", "tensorShape": {"dim": [
                {"size": "1"}, {"size": str(height)}, {"size": str(width)}, {"size": "3"}]}}},
            "outputs": {"Identity:0": {"name": "Identity:0"},
                        "Identity_1:0": {"name": "Identity_1:0"}},
        },
    }
    return json.dumps(document).encode(), {"mean.bin": axes.astype("<i4").tobytes()}
