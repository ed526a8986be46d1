"""Reading a TensorFlow.js graph model: ``model.json`` and its binary weight shards.

The format is the one ``tensorflowjs_converter`` writes (TensorFlow.js, "Model format",
tfjs-converter's ``GraphModel``): ``modelTopology.node`` is a TensorFlow ``GraphDef`` in its
JSON mapping (attribute strings base64-encoded, 64-bit integers as decimal strings), and
``weightsManifest`` lists groups of weights, each group stored as the concatenation of its
``paths`` files, the weights back to back in manifest order. A quantised weight carries
``quantization``: ``float16`` stores IEEE half floats; ``uint8``/``uint16`` store ``q`` with
``value = q * scale + min`` (tfjs-converter ``quantization.py``, "affine" quantisation).

No TensorFlow is needed: this is JSON and numpy only.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nodes.tfjs_onnx.errors import ConversionError

# Element sizes and numpy types of the stored (possibly quantised) dtypes.
_STORED: dict[str, np.dtype[Any]] = {
    "float32": np.dtype("<f4"),
    "int32": np.dtype("<i4"),
    "bool": np.dtype("u1"),
    "float16": np.dtype("<f2"),
    "uint8": np.dtype("u1"),
    "uint16": np.dtype("<u2"),
}
_LOGICAL: dict[str, np.dtype[Any]] = {
    "float32": np.dtype(np.float32),
    "int32": np.dtype(np.int32),
    "bool": np.dtype(np.bool_),
}


@dataclass(frozen=True)
class TfNode:
    """One node of the graph: its op, its inputs (``name`` or ``name:k``) and its attributes."""

    name: str
    op: str
    inputs: tuple[str, ...]
    attrs: Mapping[str, Any] = field(default_factory=dict)

    def attr_int(self, key: str, default: int | None = None) -> int:
        value = self.attrs.get(key, {})
        if "i" in value:
            return int(value["i"])
        if default is None:
            raise ConversionError(f"node {self.name} ({self.op}) has no integer attribute {key}")
        return default

    def attr_float(self, key: str, default: float) -> float:
        return float(self.attrs.get(key, {}).get("f", default))

    def attr_bool(self, key: str, default: bool = False) -> bool:
        return bool(self.attrs.get(key, {}).get("b", default))

    def attr_str(self, key: str, default: str = "") -> str:
        value = self.attrs.get(key, {})
        return base64.b64decode(value["s"]).decode() if "s" in value else default

    def attr_ints(self, key: str) -> tuple[int, ...]:
        return tuple(int(i) for i in self.attrs.get(key, {}).get("list", {}).get("i", []))

    def attr_strs(self, key: str) -> tuple[str, ...]:
        items = self.attrs.get(key, {}).get("list", {}).get("s", [])
        return tuple(base64.b64decode(s).decode() for s in items)


@dataclass(frozen=True)
class SignatureTensor:
    """An input or output of the model's serving signature: the graph tensor and its shape."""

    key: str
    tensor: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class GraphModel:
    nodes: tuple[TfNode, ...]
    constants: Mapping[str, np.ndarray]
    inputs: tuple[SignatureTensor, ...]
    outputs: tuple[SignatureTensor, ...]


def read_graph_model(model_json: bytes, shards: Mapping[str, bytes]) -> GraphModel:
    """Parse ``model.json`` and decode every weight from ``shards`` (file name -> bytes)."""
    try:
        document = json.loads(model_json)
        topology = document["modelTopology"]
        raw_nodes = topology["node"]
        manifest = document["weightsManifest"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ConversionError(f"not a TensorFlow.js graph model: {exc}") from None
    if document.get("format") != "graph-model":
        raise ConversionError(f"not a TensorFlow.js graph model (format {document.get('format')})")
    nodes = tuple(
        TfNode(n["name"], n["op"], tuple(n.get("input", ())), n.get("attr", {}))
        for n in raw_nodes
    )
    constants = _read_weights(manifest, shards)
    for node in nodes:
        if node.op == "Const" and node.name not in constants:
            raise ConversionError(f"constant {node.name} has no weight in the manifest")
    signature = document.get("signature", {})
    return GraphModel(nodes, constants, _signature(signature, "inputs"),
                      _signature(signature, "outputs"))


def _signature(signature: Mapping[str, Any], kind: str) -> tuple[SignatureTensor, ...]:
    entries = []
    for key, entry in sorted(signature.get(kind, {}).items()):
        dims = entry.get("tensorShape", {}).get("dim", [])
        shape = tuple(int(d.get("size", -1)) for d in dims)
        entries.append(SignatureTensor(key, entry["name"], shape))
    return tuple(entries)


def _read_weights(manifest: list[Any], shards: Mapping[str, bytes]) -> dict[str, np.ndarray]:
    constants: dict[str, np.ndarray] = {}
    for group in manifest:
        try:
            blob = b"".join(shards[path] for path in group["paths"])
        except KeyError as exc:
            raise ConversionError(f"weight shard {exc.args[0]} is missing") from None
        offset = 0
        for weight in group["weights"]:
            array, offset = _decode(weight, blob, offset)
            constants[weight["name"]] = array
        if offset != len(blob):
            raise ConversionError(
                f"weight shards {group['paths']} hold {len(blob)} bytes, the manifest "
                f"describes {offset}"
            )
    return constants


def _decode(weight: Mapping[str, Any], blob: bytes, offset: int) -> tuple[np.ndarray, int]:
    name = weight["name"]
    shape = tuple(int(d) for d in weight["shape"])
    dtype = weight["dtype"]
    quantization = weight.get("quantization")
    stored = quantization["dtype"] if quantization else dtype
    if dtype not in _LOGICAL or stored not in _STORED:
        raise ConversionError(f"weight {name}: unsupported dtype {dtype} stored as {stored}")
    count = int(np.prod(shape, dtype=np.int64))
    size = count * _STORED[stored].itemsize
    if offset + size > len(blob):
        raise ConversionError(f"weight {name} runs past the end of its shard")
    raw = np.frombuffer(blob, dtype=_STORED[stored], count=count, offset=offset)
    if quantization and stored in ("uint8", "uint16"):
        scale = np.float32(quantization["scale"])
        low = np.float32(quantization["min"])
        values = raw.astype(np.float32) * scale + low
    else:
        values = raw
    return values.astype(_LOGICAL[dtype]).reshape(shape), offset + size
