"""Translating a prepared TensorFlow graph into ONNX nodes, op by op.

TensorFlow convolutions, pools and resizes work on NHWC tensors, ONNX's on NCHW. Each
translated tensor therefore carries a permutation: the TensorFlow tensor is the ONNX tensor
transposed by ``perm``. Layout-free ops (element-wise arithmetic and activations, pads,
concatenations, splits) work in whatever layout their input already has, with their axes and
constants permuted to match, and a TensorFlow ``Transpose`` only changes the permutation. An
ONNX ``Transpose`` is emitted only where an op needs another layout than the one at hand, and
cancelling pairs never appear: a model exported from PyTorch through TensorFlow (NanoDet's
``NCHW -> NHWC -> conv -> NCHW`` around every convolution) comes out with no transposes at all.
This is the approach of tf2onnx's transpose optimiser, done while translating.

Op semantics follow the TensorFlow raw-ops reference; ONNX ops are from opset 17 (ONNX
Operators, onnx/docs/Operators.md). Names of nodes, tensors and initialisers derive from the
TensorFlow node names, in graph order, so the same model translates to the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from nodes.tfjs_onnx import shapes as sh
from nodes.tfjs_onnx.errors import ConversionError
from nodes.tfjs_onnx.fold import PreparedGraph, tensor_name
from nodes.tfjs_onnx.graph_model import TfNode

Perm = tuple[int, ...]
NHWC_TO_NCHW: Perm = (0, 3, 1, 2)
NCHW_TO_NHWC: Perm = (0, 2, 3, 1)


def _compose(first: Perm | None, then: Sequence[int]) -> Perm | None:
    """The permutation of ``x.transpose(first).transpose(then)``, None if the identity."""
    combined = tuple(int(i) for i in then) if first is None else tuple(first[i] for i in then)
    return None if combined == tuple(range(len(combined))) else combined


def _inverse(perm: Perm) -> Perm:
    result = [0] * len(perm)
    for i, p in enumerate(perm):
        result[p] = i
    return tuple(result)


@dataclass(frozen=True)
class Value:
    """A translated tensor: the TensorFlow tensor is ``onnx_name`` transposed by ``perm``."""

    onnx_name: str
    perm: Perm | None = None


@dataclass
class OnnxGraph:
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    initializers: list[onnx.TensorProto] = field(default_factory=list)


_ACTIVATIONS = {"Relu", "Relu6", "LeakyRelu", "Sigmoid"}
_BINARY_ONNX = {"Add": "Add", "AddV2": "Add", "BiasAdd": "Add", "Sub": "Sub", "Mul": "Mul",
                "RealDiv": "Div", "Maximum": "Max", "Minimum": "Min"}


class Translator:
    """Emits the ONNX nodes of ``graph``; ``reference`` and ``probe`` are its tensors' shapes
    at the signature size and at the probe size (equal when no axis is dynamic)."""

    def __init__(self, graph: PreparedGraph, reference: Mapping[str, sh.Shape],
                 probe: Mapping[str, sh.Shape], dynamic: bool):
        self.graph = graph
        self.reference = reference
        self.probe = probe
        self.dynamic = dynamic
        self.out = OnnxGraph()
        self.values: dict[str, Value] = {}
        self._transposed: dict[tuple[str, Perm], str] = {}
        self._names: set[str] = set()

    # -- plumbing -----------------------------------------------------------------------------

    def _unique(self, name: str) -> str:
        candidate, k = name, 1
        while candidate in self._names:
            candidate, k = f"{name}_{k}", k + 1
        self._names.add(candidate)
        return candidate

    def constant(self, name: str, array: np.ndarray) -> str:
        onnx_name = self._unique(name)
        self.out.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array),
                                                             onnx_name))
        return onnx_name

    def emit(self, op: str, inputs: Sequence[str], name: str, outputs: int = 1,
             **attrs: Any) -> list[str]:
        node_name = self._unique(name)
        names = [node_name] + [self._unique(f"{name}:{k}") for k in range(1, outputs)]
        self.out.nodes.append(helper.make_node(op, list(inputs), names, name=node_name, **attrs))
        return names

    def get(self, ref: str, perm: Perm | None = None) -> str:
        """The ONNX name of TensorFlow tensor ``ref`` transposed by ``perm`` (None: as is)."""
        value = self.values[tensor_name(ref)]
        wanted = _compose(value.perm, perm if perm is not None else
                          tuple(range(len(value.perm or ()))))
        if wanted is None:
            return value.onnx_name
        key = (value.onnx_name, wanted)
        if key not in self._transposed:
            self._transposed[key] = self.emit("Transpose", [value.onnx_name],
                                              f"{value.onnx_name}/transpose", perm=list(wanted))[0]
        return self._transposed[key]

    def get_stored(self, ref: str, perm: Perm | None) -> str:
        """The ONNX name of TensorFlow tensor ``ref`` stored as a ``Value`` with ``perm`` is."""
        return self.get(ref, _inverse(perm) if perm is not None else None)

    def const(self, ref: str) -> np.ndarray:
        try:
            return self.graph.constants[tensor_name(ref)]
        except KeyError:
            raise ConversionError(f"input {ref} must be a constant") from None

    def is_const(self, ref: str) -> bool:
        return tensor_name(ref) in self.graph.constants

    # -- ops ----------------------------------------------------------------------------------

    def translate(self) -> OnnxGraph:
        for node in self.graph.nodes:
            refs = [r for r in node.inputs if not r.startswith("^")]
            self._node(node, refs)
        return self.out

    def _node(self, node: TfNode, refs: list[str]) -> None:
        op = node.op
        if op == "Placeholder":
            self.values[node.name] = Value(node.name)
        elif op == "Identity":
            self.values[node.name] = self.values[tensor_name(refs[0])]
        elif op in _ACTIVATIONS:
            value = self.values[tensor_name(refs[0])]
            name = self._activation(op, node, value.onnx_name, node.name)
            self.values[node.name] = Value(name, value.perm)
        elif op in _BINARY_ONNX:
            self._binary(node, refs)
        elif op in sh.CONVOLUTIONS:
            self._convolution(node, refs)
        elif op in sh.POOLS:
            window = sh.pool_window(node)
            (name,) = self.emit("MaxPool", [self.get(refs[0], NHWC_TO_NCHW)], node.name,
                                **self._window_attrs(window))
            self.values[node.name] = Value(name, NCHW_TO_NHWC)
        elif op in sh.PADS:
            self._pad(node, refs)
        elif op == "ConcatV2":
            self._concat(node, refs)
        elif op == "Transpose":
            value = self.values[tensor_name(refs[0])]
            perm = tuple(int(p) for p in self.const(refs[1]))
            base = value.perm if value.perm is not None else tuple(range(len(perm)))
            self.values[node.name] = Value(value.onnx_name, _compose(base, perm))
        elif op == "Reshape":
            self._reshape(node, refs)
        elif op == "SplitV":
            self._split(node, refs)
        elif op in sh.RESIZES:
            self._resize(node, refs)
        elif op in sh.REDUCTIONS:
            self._mean(node, refs)
        else:
            raise ConversionError(f"op {op} (node {node.name}) is not supported by the translator")

    def _mean(self, node: TfNode, refs: list[str]) -> None:
        """``Mean`` over constant axes (MobileNetV3's squeeze-and-excite pools over height and
        width). Keeping the reduced axes, it runs in the layout the tensor is stored in, so no
        transpose is added; otherwise in TensorFlow's layout."""
        value = self.values[tensor_name(refs[0])]
        rank = len(self.reference[tensor_name(refs[0])])
        axes = sorted({int(a) % rank for a in np.atleast_1d(self.const(refs[1]))})
        if node.attr_bool("keep_dims") and value.perm is not None:
            stored = sorted(value.perm[a] for a in axes)
            (name,) = self.emit("ReduceMean", [value.onnx_name], node.name, axes=stored,
                                keepdims=1)
            self.values[node.name] = Value(name, value.perm)
            return
        (name,) = self.emit("ReduceMean", [self.get(refs[0])], node.name, axes=axes,
                            keepdims=int(node.attr_bool("keep_dims")))
        self.values[node.name] = Value(name)

    def _activation(self, op: str, node: TfNode, source: str, name: str) -> str:
        if op == "Relu6":
            low = self.constant(f"{name}/min", np.array(0.0, np.float32))
            high = self.constant(f"{name}/max", np.array(6.0, np.float32))
            return self.emit("Clip", [source, low, high], name)[0]
        if op == "LeakyRelu":
            alpha = node.attr_float("alpha", node.attr_float("leakyrelu_alpha", 0.2))
            return self.emit("LeakyRelu", [source], name, alpha=alpha)[0]
        return self.emit(op, [source], name)[0]

    def _binary(self, node: TfNode, refs: list[str]) -> None:
        variables = [r for r in refs if not self.is_const(r)]
        perm = self.values[tensor_name(variables[0])].perm
        rank = len(self.reference[node.name])
        inputs = []
        for position, ref in enumerate(refs):
            if not self.is_const(ref):
                inputs.append(self.get_stored(ref, perm))
                continue
            array = self.const(ref)
            if node.op == "BiasAdd" and position == 1:
                array = array.reshape((1,) * (rank - 1) + array.shape)
            if perm is not None:
                array = array.reshape((1,) * (rank - array.ndim) + array.shape)
                array = array.transpose(_inverse(perm))
            inputs.append(self.constant(f"{node.name}/{'ab'[position]}", array))
        (name,) = self.emit(_BINARY_ONNX[node.op], inputs, node.name)
        self.values[node.name] = Value(name, perm)

    def _window_attrs(self, window: sh.Window) -> dict[str, Any]:
        attrs: dict[str, Any] = {"kernel_shape": list(window.kernel),
                                    "strides": list(window.strides)}
        if window.dilations != (1, 1):
            attrs["dilations"] = list(window.dilations)
        if not window.same:
            attrs["pads"] = [0, 0, 0, 0]
        elif window.strides == (1, 1):
            # stride 1: TensorFlow's SAME padding does not depend on the input size
            totals = [(k - 1) * d for k, d in zip(window.kernel, window.dilations, strict=True)]
            attrs["pads"] = [t // 2 for t in totals] + [t - t // 2 for t in totals]
        else:
            # TensorFlow puts the odd pixel at the end, as SAME_UPPER does, at any input size
            attrs["auto_pad"] = "SAME_UPPER"
        return attrs

    def _convolution(self, node: TfNode, refs: list[str]) -> None:
        kernel = self.const(refs[1]).astype(np.float32)
        window = sh.window(node, (kernel.shape[0], kernel.shape[1]))
        height, width, channels_in, multiplier = kernel.shape
        if "Depthwise" in node.op:
            # [H, W, C, M] -> [C * M, 1, H, W]: output channel c * M + m, as TensorFlow orders
            weights = kernel.reshape(height, width, channels_in * multiplier).transpose(2, 0, 1)
            weights = weights[:, None]
            group = channels_in
        else:
            weights = kernel.transpose(3, 2, 0, 1)
            group = 1
        fused = node.attr_strs("fused_ops") if node.op.startswith(("_", "Fused")) else ()
        bias = np.zeros(weights.shape[0], np.float32)
        args = refs[2:]
        activation = None
        for position, fused_op in enumerate(fused):
            if fused_op == "BiasAdd" and position == 0:
                bias = self.const(args[0]).astype(np.float32)
            elif fused_op in _ACTIVATIONS and position == len(fused) - 1 and position > 0:
                activation = fused_op
            else:
                raise ConversionError(f"{node.op} {node.name}: fused ops {fused} not supported")
        inputs = [self.get(refs[0], NHWC_TO_NCHW),
                  self.constant(f"{node.name}/weights", weights.astype(np.float32)),
                  self.constant(f"{node.name}/bias", bias.astype(np.float32))]
        attrs = self._window_attrs(window)
        conv_name = f"{node.name}/conv" if activation else node.name
        (name,) = self.emit("Conv", inputs, conv_name, group=group, **attrs)
        if activation:
            name = self._activation(activation, node, name, node.name)
        self.values[node.name] = Value(name, NCHW_TO_NHWC)

    def _pad(self, node: TfNode, refs: list[str]) -> None:
        value = self.values[tensor_name(refs[0])]
        pads = self.const(refs[1]).astype(np.int64)
        if value.perm is not None:
            pads = pads[list(_inverse(value.perm))]
        inputs = [value.onnx_name, self.constant(
            f"{node.name}/pads", np.concatenate([pads[:, 0], pads[:, 1]]))]
        if node.op == "PadV2":
            fill = self.const(refs[2]).astype(np.float32).reshape(())
            inputs.append(self.constant(f"{node.name}/value", fill))
        (name,) = self.emit("Pad", inputs, node.name, mode="constant")
        self.values[node.name] = Value(name, value.perm)

    def _concat(self, node: TfNode, refs: list[str]) -> None:
        parts = refs[:-1]
        if any(self.is_const(r) for r in parts):
            raise ConversionError(f"ConcatV2 {node.name}: constant parts are not supported")
        perm = self.values[tensor_name(parts[0])].perm
        rank = len(self.reference[node.name])
        axis = int(self.const(refs[-1])) % rank
        onnx_axis = perm[axis] if perm is not None else axis
        (name,) = self.emit("Concat", [self.get_stored(r, perm) for r in parts], node.name,
                            axis=onnx_axis)
        self.values[node.name] = Value(name, perm)

    def _reshape(self, node: TfNode, refs: list[str]) -> None:
        source = tensor_name(refs[0])
        target = tuple(int(d) for d in self.const(refs[1]))
        if self.dynamic:
            target = sh.dynamic_reshape_target(target, self.reference[source], self.probe[source])
        shape = self.constant(f"{node.name}/shape", np.array(target, np.int64))
        (name,) = self.emit("Reshape", [self.get(refs[0]), shape], node.name)
        self.values[node.name] = Value(name)

    def _split(self, node: TfNode, refs: list[str]) -> None:
        value = self.values[tensor_name(refs[0])]
        in_shape = self.reference[tensor_name(refs[0])]
        axis = int(self.const(refs[2])) % len(in_shape)
        sizes = [int(s) for s in self.const(refs[1])]
        if -1 in sizes:
            sizes[sizes.index(-1)] = in_shape[axis] - sum(s for s in sizes if s != -1)
        source = tensor_name(refs[0])
        if self.dynamic and self.reference[source][axis] != self.probe[source][axis]:
            raise ConversionError(f"SplitV {node.name} splits an axis that follows the input")
        onnx_axis = value.perm[axis] if value.perm is not None else axis
        split = self.constant(f"{node.name}/split", np.array(sizes, np.int64))
        names = self.emit("Split", [value.onnx_name, split], node.name, outputs=len(sizes),
                          axis=onnx_axis)
        for k, name in enumerate(names):
            self.values[node.name if k == 0 else f"{node.name}:{k}"] = Value(name, value.perm)

    def _resize(self, node: TfNode, refs: list[str]) -> None:
        if node.attr_bool("align_corners"):
            transform = "align_corners"
        elif node.attr_bool("half_pixel_centers"):
            transform = "half_pixel"
        else:
            transform = "asymmetric"
        source = tensor_name(refs[0])
        size = [int(s) for s in self.const(refs[1])]
        _, height, width, channels = self.reference[source]
        empty = self.constant(f"{node.name}/roi", np.zeros(0, np.float32))
        if self.dynamic:
            factors = [sh.resize_factor(n, s) for n, s in zip((height, width), size, strict=True)]
            if None in factors:
                raise ConversionError(f"{node.op} {node.name}: {height}x{width} -> {size} is "
                                      "not a whole scale factor; the input size must stay fixed")
            scales = np.array([1, 1, *factors], np.float32)
            inputs = [empty, self.constant(f"{node.name}/scales", scales)]
        else:
            sizes = np.array([self.reference[source][0], channels, *size], np.int64)
            inputs = [empty, self.constant(f"{node.name}/empty_scales", np.zeros(0, np.float32)),
                      self.constant(f"{node.name}/sizes", sizes)]
        (name,) = self.emit("Resize", [self.get(refs[0], NHWC_TO_NCHW), *inputs], node.name,
                            mode="linear", coordinate_transformation_mode=transform)
        self.values[node.name] = Value(name, NCHW_TO_NHWC)

