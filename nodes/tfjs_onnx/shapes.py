"""Static shapes of a prepared graph's tensors, in TensorFlow's layout, for one input size.

The translator needs them twice. At the signature's input size they turn a fixed
``ResizeBilinear`` output size into the scale factor it stands for. At a second, probe size
(the dynamic axes doubled) they show which dimensions follow the input: those become symbolic
in the ONNX model, and a ``Reshape`` whose fixed target would pin the input size gets ``-1``
in the place of the one target dimension that follows it.

Output sizes follow TensorFlow's ``GetWindowedOutputSize``: ``VALID`` gives
``floor((in - (k - 1) * d - 1) / s) + 1``, ``SAME`` gives ``ceil(in / s)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from nodes.tfjs_onnx.errors import ConversionError
from nodes.tfjs_onnx.fold import PreparedGraph, tensor_name
from nodes.tfjs_onnx.graph_model import TfNode

Shape = tuple[int, ...]

UNARY = frozenset({"Identity", "Relu", "Relu6", "LeakyRelu", "Sigmoid"})
BINARY = frozenset({"Add", "AddV2", "BiasAdd", "Sub", "Mul", "RealDiv", "Maximum", "Minimum"})
CONVOLUTIONS = frozenset({"Conv2D", "_FusedConv2D", "DepthwiseConv2dNative",
                          "FusedDepthwiseConv2dNative"})
POOLS = frozenset({"MaxPool"})
PADS = frozenset({"Pad", "PadV2"})
RESIZES = frozenset({"ResizeBilinear"})
REDUCTIONS = frozenset({"Mean"})


@dataclass(frozen=True)
class Window:
    """A convolution's or pool's spatial window, NHWC: kernel, strides, dilations, padding."""

    kernel: tuple[int, int]
    strides: tuple[int, int]
    dilations: tuple[int, int]
    same: bool

    def output(self, size: tuple[int, int]) -> tuple[int, int]:
        out = []
        for n, k, s, d in zip(size, self.kernel, self.strides, self.dilations, strict=True):
            span = (k - 1) * d + 1
            out.append(-(-n // s) if self.same else (n - span) // s + 1)
        return out[0], out[1]


def window(node: TfNode, kernel_hw: tuple[int, int]) -> Window:
    if node.attr_str("data_format", "NHWC") != "NHWC":
        raise ConversionError(f"{node.op} {node.name}: only NHWC data is supported")
    padding = node.attr_str("padding", "VALID")
    if padding not in ("SAME", "VALID"):
        raise ConversionError(f"{node.op} {node.name}: padding {padding} is not supported")
    strides = node.attr_ints("strides") or (1, 1, 1, 1)
    dilations = node.attr_ints("dilations") or (1, 1, 1, 1)
    if strides[0] != 1 or strides[3] != 1 or dilations[0] != 1 or dilations[3] != 1:
        raise ConversionError(f"{node.op} {node.name}: strides or dilations over batch/channels")
    return Window(kernel_hw, (strides[1], strides[2]), (dilations[1], dilations[2]),
                  padding == "SAME")


def pool_window(node: TfNode) -> Window:
    ksize = node.attr_ints("ksize")
    if len(ksize) != 4 or ksize[0] != 1 or ksize[3] != 1:
        raise ConversionError(f"{node.op} {node.name}: unsupported ksize {ksize}")
    return window(node, (ksize[1], ksize[2]))


def dynamic_reshape_target(target: Shape, reference_in: Shape, probe_in: Shape) -> Shape:
    """``target`` with ``-1`` where its dimension covers input dimensions that changed size.

    The target's dimensions are matched to runs of consecutive input dimensions whose product
    they are (at the reference size); a fixed target is kept when nothing it covers changes.
    """
    if -1 in target or reference_in == probe_in:
        return target
    groups: list[list[int]] = []
    axis = 0
    for dim in target:
        group: list[int] = []
        product = 1
        while axis < len(reference_in) and product < dim:
            product *= reference_in[axis]
            group.append(axis)
            axis += 1
        if dim == 1 and not group and axis < len(reference_in) and reference_in[axis] == 1:
            group.append(axis)
            axis += 1
        if product != dim:
            raise ConversionError(f"reshape {reference_in} -> {target} does not keep runs of "
                                  "axes together; cannot make it follow the input size")
        groups.append(group)
    if any(reference_in[a] != 1 for a in range(axis, len(reference_in))):
        raise ConversionError(f"reshape {reference_in} -> {target} does not cover every axis")
    changed = [i for i, g in enumerate(groups) if any(reference_in[a] != probe_in[a] for a in g)]
    if len(changed) != 1:
        raise ConversionError(f"reshape {reference_in} -> {target}: {len(changed)} target "
                              "dimensions follow the input size; at most one can be -1")
    return tuple(-1 if i == changed[0] else d for i, d in enumerate(target))


def resize_factor(size: int, target: int) -> float | None:
    """The scale of a resize from ``size`` to ``target`` if it is a whole factor up or down
    (``2.0``, ``0.5``), else None: ONNX scales by it at any input size."""
    if target % size == 0:
        return float(target // size)
    if size % target == 0:
        return 1.0 / (size // target)
    return None


def _reshape(target: Shape, shape: Shape, where: str) -> Shape:
    total = int(np.prod(shape))
    if target.count(-1) > 1:
        raise ConversionError(f"{where}: more than one -1 in the reshape target")
    if -1 in target:
        known = int(np.prod([d for d in target if d != -1]))
        if known == 0 or total % known:
            raise ConversionError(f"{where}: cannot reshape {shape} to {target}")
        return tuple(total // known if d == -1 else d for d in target)
    if int(np.prod(target)) != total:
        raise ConversionError(f"{where}: cannot reshape {shape} to {target}")
    return target


def _broadcast(a: Shape, b: Shape, where: str) -> Shape:
    try:
        return tuple(int(d) for d in np.broadcast_shapes(a, b))
    except ValueError:
        raise ConversionError(f"{where}: shapes {a} and {b} do not broadcast") from None


def infer_shapes(graph: PreparedGraph, inputs: Mapping[str, Shape],
                 reference: Mapping[str, Shape] | None = None) -> dict[str, Shape]:
    """Every tensor's shape. With ``reference`` (the shapes at the signature size), resizes
    scale by their reference factor and fixed reshape targets follow the input size."""
    shapes: dict[str, Shape] = {name: tuple(v.shape) for name, v in graph.constants.items()}
    for node in graph.nodes:
        refs = [tensor_name(r) for r in node.inputs if not r.startswith("^")]
        where = f"{node.op} {node.name}"
        try:
            args = [shapes[r] for r in refs]
        except KeyError as exc:
            raise ConversionError(f"{where}: input {exc.args[0]} has no known shape") from None
        op = node.op
        if op == "Placeholder":
            shapes[node.name] = inputs[node.name]
        elif op in UNARY:
            shapes[node.name] = args[0]
        elif op in BINARY:
            shapes[node.name] = _broadcast(args[0], args[1], where)
        elif op in CONVOLUTIONS:
            kernel = args[1]
            n, h, w, _ = args[0]
            oh, ow = window(node, (kernel[0], kernel[1])).output((h, w))
            depthwise = "Depthwise" in op
            shapes[node.name] = (n, oh, ow, kernel[2] * kernel[3] if depthwise else kernel[3])
        elif op in POOLS:
            n, h, w, c = args[0]
            oh, ow = pool_window(node).output((h, w))
            shapes[node.name] = (n, oh, ow, c)
        elif op in PADS:
            pads = graph.constants[refs[1]]
            shapes[node.name] = tuple(int(d + p[0] + p[1]) for d, p in zip(
                args[0], pads, strict=True))
        elif op == "ConcatV2":
            axis = int(graph.constants[refs[-1]])
            first = args[0]
            axis %= len(first)
            total = sum(s[axis] for s in args[:-1])
            shapes[node.name] = (*first[:axis], total, *first[axis + 1:])
        elif op == "Transpose":
            perm = graph.constants[refs[1]]
            shapes[node.name] = tuple(args[0][int(p)] for p in perm)
        elif op == "Reshape":
            target = tuple(int(d) for d in graph.constants[refs[1]])
            if reference is not None:
                target = dynamic_reshape_target(target, reference[refs[0]], args[0])
            shapes[node.name] = _reshape(target, args[0], where)
        elif op == "SplitV":
            sizes = [int(s) for s in graph.constants[refs[1]]]
            axis = int(graph.constants[refs[2]]) % len(args[0])
            if -1 in sizes:
                sizes[sizes.index(-1)] = args[0][axis] - sum(s for s in sizes if s != -1)
            for k, part in enumerate(sizes):
                name = node.name if k == 0 else f"{node.name}:{k}"
                shapes[name] = (*args[0][:axis], part, *args[0][axis + 1:])
        elif op in RESIZES:
            n, h, w, c = args[0]
            size = tuple(int(s) for s in graph.constants[refs[1]])
            if reference is not None:
                rh, rw = reference[refs[0]][1:3]
                if (h * size[0]) % rh or (w * size[1]) % rw:
                    raise ConversionError(f"{where}: {h}x{w} does not scale as {rh}x{rw} does")
                size = (h * size[0] // rh, w * size[1] // rw)
            shapes[node.name] = (n, size[0], size[1], c)
        elif op in REDUCTIONS:
            axes = {int(a) % len(args[0]) for a in np.atleast_1d(graph.constants[refs[1]])}
            keep = node.attr_bool("keep_dims")
            shapes[node.name] = tuple(1 if i in axes else d for i, d in enumerate(args[0])
                                      if keep or i not in axes)
        else:
            raise ConversionError(f"op {op} (node {node.name}) is not supported by the translator")
    return shapes
