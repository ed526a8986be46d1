"""Preparing a TensorFlow graph for translation: the nodes the outputs need, in topological
order, with constant subgraphs evaluated and each convolution's bias addition fused into it.

Exporters leave constant arithmetic in the graph (the ONNX-to-TensorFlow exporter behind NanoDet
computes every reshape target as ``const + SparseToDense(...)``); evaluating it here in numpy
gives the translator plain constants. A ``Conv2D`` followed by an ``Add`` of a per-channel
vector is the unfused form of TensorFlow's ``_FusedConv2D`` with ``BiasAdd`` (Grappler's
remapper makes the same rewrite), so it becomes one ONNX ``Conv`` with its bias.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from nodes.tfjs_onnx.errors import ConversionError
from nodes.tfjs_onnx.graph_model import GraphModel, TfNode


def tensor_name(ref: str) -> str:
    """``node``, ``node:0`` -> ``node``; ``node:k`` stays: one spelling per tensor."""
    return ref[:-2] if ref.endswith(":0") else ref


def producer(ref: str) -> str:
    """The node that produces tensor ``ref``."""
    name = tensor_name(ref)
    head, _, tail = name.rpartition(":")
    return head if head and tail.isdigit() else name


@dataclass(frozen=True)
class PreparedGraph:
    nodes: tuple[TfNode, ...]  # every non-constant node the outputs need, inputs first
    constants: Mapping[str, np.ndarray]  # tensor name -> value
    inputs: tuple[str, ...]  # the placeholders' tensor names
    outputs: tuple[str, ...]  # the outputs' tensor names


def _sparse_to_dense(indices: np.ndarray, shape: np.ndarray, values: np.ndarray,
                     default: np.ndarray) -> np.ndarray:
    dense = np.full(tuple(int(d) for d in shape), default, dtype=values.dtype)
    index = indices.reshape(len(indices), -1) if indices.size else indices.reshape(0, len(shape))
    for row, at in enumerate(index):
        dense[tuple(int(i) for i in at)] = values if values.ndim == 0 else values[row]
    return dense


_FOLD: dict[str, Callable[..., np.ndarray]] = {
    "Identity": lambda x: x,
    "Add": np.add,
    "AddV2": np.add,
    "Sub": np.subtract,
    "Mul": np.multiply,
    "SparseToDense": _sparse_to_dense,
}

_CONVS = {"Conv2D": "_FusedConv2D", "DepthwiseConv2dNative": "FusedDepthwiseConv2dNative"}
_BIAS_ADDS = {"Add", "AddV2", "BiasAdd"}


def prepare(model: GraphModel) -> PreparedGraph:
    by_name = {node.name: node for node in model.nodes}
    inputs = tuple(tensor_name(s.tensor) for s in model.inputs)
    outputs = tuple(tensor_name(s.tensor) for s in model.outputs)
    order = _topological(by_name, outputs)
    constants = dict(model.constants)
    kept: list[TfNode] = []
    for node in order:
        if node.op == "Const":
            continue
        if node.op == "Placeholder":
            kept.append(node)
            continue
        refs = [tensor_name(r) for r in node.inputs if not r.startswith("^")]
        if refs and all(r in constants for r in refs):
            if node.op not in _FOLD:
                raise ConversionError(f"cannot evaluate constant {node.op} node {node.name}")
            constants[node.name] = np.asarray(_FOLD[node.op](*(constants[r] for r in refs)))
            continue
        kept.append(node)
    for name in inputs:
        if name not in by_name or by_name[name].op != "Placeholder":
            raise ConversionError(f"signature input {name} is not a placeholder of the graph")
    fused = _fuse_bias(kept, constants, outputs)
    used = {tensor_name(r) for n in fused for r in n.inputs} | set(outputs)
    return PreparedGraph(tuple(fused), {k: v for k, v in constants.items() if k in used},
                         inputs, outputs)


def _topological(by_name: Mapping[str, TfNode], outputs: tuple[str, ...]) -> list[TfNode]:
    """Depth-first from the outputs, inputs in their listed order: the same order every run."""
    order: list[TfNode] = []
    state: dict[str, bool] = {}  # False: on the stack, True: done
    for output in outputs:
        stack: list[tuple[str, int]] = [(producer(output), 0)]
        while stack:
            name, position = stack.pop()
            node = by_name.get(name)
            if node is None:
                raise ConversionError(f"graph references unknown node {name}")
            if position == 0:
                if state.get(name) is True:
                    continue
                if state.get(name) is False:
                    raise ConversionError(f"graph has a cycle through {name}")
                state[name] = False
            refs = [r for r in node.inputs if not r.startswith("^")]
            if position < len(refs):
                stack.append((name, position + 1))
                child = producer(refs[position])
                if state.get(child) is not True:
                    stack.append((child, 0))
                continue
            state[name] = True
            order.append(node)
    return order


def _fuse_bias(nodes: list[TfNode], constants: Mapping[str, np.ndarray],
               outputs: tuple[str, ...]) -> list[TfNode]:
    uses: dict[str, int] = {}
    for node in nodes:
        for ref in node.inputs:
            uses[tensor_name(ref)] = uses.get(tensor_name(ref), 0) + 1
    for name in outputs:
        uses[name] = uses.get(name, 0) + 1
    convs = {n.name: n for n in nodes if n.op in _CONVS}
    merged: dict[str, TfNode] = {}  # the Add's name -> the fused convolution taking its place
    dropped: set[str] = set()  # the convolutions now inside a fused node
    for node in nodes:
        if node.op not in _BIAS_ADDS or len(node.inputs) != 2:
            continue
        first, second = (tensor_name(r) for r in node.inputs)
        conv_name, bias_name = (first, second) if first in convs else (second, first)
        if node.op == "BiasAdd" and conv_name != first:
            continue
        conv = convs.get(conv_name)
        bias = constants.get(bias_name)
        if conv is None or bias is None or uses.get(conv_name) != 1 or bias.ndim != 1:
            continue
        kernel = constants.get(tensor_name(conv.inputs[1]))
        if kernel is None or kernel.ndim != 4:
            continue
        channels = kernel.shape[3] if conv.op == "Conv2D" else kernel.shape[2] * kernel.shape[3]
        if bias.shape[0] != channels:
            continue
        attrs = dict(conv.attrs)
        attrs["fused_ops"] = {"list": {"s": [base64.b64encode(b"BiasAdd").decode()]}}
        attrs["num_args"] = {"i": "1"}
        merged[node.name] = TfNode(node.name, _CONVS[conv.op],
                                   (*conv.inputs[:2], bias_name), attrs)
        dropped.add(conv_name)
    result = []
    for node in nodes:
        if node.name in merged:
            result.append(merged[node.name])
        elif node.name not in dropped:
            result.append(node)
    return result
