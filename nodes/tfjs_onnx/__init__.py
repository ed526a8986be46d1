"""TensorFlow.js graph models to ONNX, without TensorFlow: numpy and the ``onnx`` package only.

``convert(model_json, shards, dynamic_axes)`` reads the graph and its weights
(``graph_model``), evaluates constant subgraphs and fuses convolution biases (``fold``), infers
shapes at the signature size and, if any input axis is dynamic, at a probe size (``shapes``),
translates op by op (``translate``) and returns the serialised ONNX model. The bytes depend on
the inputs only (names in graph order, no timestamps, the opset and IR version fixed), so a
converted model can be pinned by its SHA-256.

Supported ops are those of the models in the registry: Conv2D, _FusedConv2D,
(Fused)DepthwiseConv2dNative (BiasAdd with Relu, Relu6, LeakyRelu or Sigmoid), Add/AddV2,
BiasAdd, Sub, Mul, RealDiv, Maximum, Minimum, Relu, Relu6, LeakyRelu, Sigmoid, Pad/PadV2,
MaxPool, Transpose, ConcatV2, ResizeBilinear, SplitV, Reshape, Identity, Mean over constant
axes (squeeze-and-excite), and constant SparseToDense; anything else is refused by name.
"""

from __future__ import annotations

from collections.abc import Mapping

import onnx
from onnx import TensorProto, helper

from nodes.tfjs_onnx.errors import ConversionError
from nodes.tfjs_onnx.fold import prepare, tensor_name
from nodes.tfjs_onnx.graph_model import read_graph_model
from nodes.tfjs_onnx.shapes import Shape, infer_shapes
from nodes.tfjs_onnx.translate import Translator

__all__ = ["OPSET", "ConversionError", "convert"]

OPSET = 17
IR_VERSION = 8  # ONNX 1.10+; onnxruntime 1.18 reads it
PRODUCER = "safecity.tfjs_onnx"
PRODUCER_VERSION = "1"  # bump when the translation changes: the registry's pins follow it


def convert(model_json: bytes, shards: Mapping[str, bytes],
            dynamic_axes: Mapping[int, str] | None = None) -> bytes:
    """The ONNX model of a TensorFlow.js graph model with one input.

    ``shards`` maps each weight file named in the manifest to its bytes. ``dynamic_axes`` names
    the input axes that may change size (``{2: "height", 3: "width"}``); axes the signature
    leaves open (-1) must be named. Output axes that follow them become symbolic too.
    """
    model = read_graph_model(model_json, shards)
    graph = prepare(model)
    if len(model.inputs) != 1:
        raise ConversionError(f"the model has {len(model.inputs)} inputs; one is supported")
    signature = model.inputs[0]
    input_name = tensor_name(signature.tensor)
    axes = dict(dynamic_axes or {})
    for axis, size in enumerate(signature.shape):
        if size == -1 and axis not in axes:
            raise ConversionError(f"input axis {axis} has no fixed size; name it dynamic")
    reference_shape: Shape = tuple(1 if d == -1 else d for d in signature.shape)
    probe_shape: Shape = tuple(2 * d if i in axes else d for i, d in enumerate(reference_shape))
    reference = infer_shapes(graph, {input_name: reference_shape})
    probe = infer_shapes(graph, {input_name: probe_shape}, reference) if axes else reference

    translator = Translator(graph, reference, probe, dynamic=bool(axes))
    onnx_graph = translator.translate()
    symbols = {(reference_shape[a], probe_shape[a]): name for a, name in axes.items()}
    outputs = []
    for number, output in enumerate(model.outputs):
        name = output.key.split(":")[0]
        tensor = tensor_name(output.tensor)
        dims: list[int | str] = []
        for axis, (ref, prb) in enumerate(zip(reference[tensor], probe[tensor], strict=True)):
            dims.append(ref if ref == prb else symbols.get((ref, prb), f"{name}_{axis}"))
        onnx_graph.nodes.append(helper.make_node("Identity", [translator.get(tensor)], [name],
                                                 name=f"output_{number}"))
        outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, dims))
    input_dims = [axes.get(a, d) for a, d in enumerate(reference_shape)]
    graph_proto = helper.make_graph(
        onnx_graph.nodes, "tfjs_graph_model",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, input_dims)],
        outputs, initializer=onnx_graph.initializers,
    )
    onnx_model = helper.make_model(
        graph_proto, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION,
        producer_name=PRODUCER, producer_version=PRODUCER_VERSION,
    )
    try:
        onnx.checker.check_model(onnx_model, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ConversionError(f"the translated model is not valid ONNX: {exc}") from None
    return onnx_model.SerializeToString(deterministic=True)
