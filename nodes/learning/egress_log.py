"""What a node's training sends out, written down at the node: one JSON line per message its
ClientApp sends back (message type, run, each record's names and, for arrays, their shapes and
types; for configs and metrics, value types and sizes; never a value). The site's DPO reads
``egress/flower.jsonl`` to see what left; the egress tests check every line against the rule
that only model updates, their masks and protocol values leave a node."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flwr.common import Context, Message

from nodes.learning.local_data import node_settings


def _value(value: Any) -> dict[str, Any]:
    if isinstance(value, bytes):
        return {"type": "bytes", "size": len(value)}
    if isinstance(value, list):
        return {"type": "list", "size": len(value),
                "items": sorted({type(v).__name__ for v in value})}
    return {"type": type(value).__name__}


def describe(message: Message) -> dict[str, Any]:
    """The shape of a message's content, with no value in it."""
    entry: dict[str, Any] = {"time": datetime.now(UTC).isoformat(),
                             "message_type": message.metadata.message_type,
                             "run_id": message.metadata.run_id}
    if message.has_error():
        entry["error"] = message.error.code
        return entry
    content = message.content
    entry["arrays"] = {name: [{"key": key, "shape": list(array.shape), "dtype": array.dtype}
                              for key, array in record.items()]
                       for name, record in content.array_records.items()}
    entry["configs"] = {name: {key: _value(v) for key, v in record.items()}
                        for name, record in content.config_records.items()}
    entry["metrics"] = {name: {key: _value(v) for key, v in record.items()}
                        for name, record in content.metric_records.items()}
    return entry


def egress_file(data_dir: Path) -> Path:
    return data_dir / "egress" / "flower.jsonl"


def egress_logged(message: Message, context: Context, call_next: Any) -> Message:
    """Outermost mod: the reply as it leaves the ClientApp, after every other mod (a refusal
    leaves as an error reply carrying the reason: logged as such)."""
    try:
        reply = call_next(message, context)
    except Exception as exc:
        _write(context, {"time": datetime.now(UTC).isoformat(),
                         "message_type": message.metadata.message_type,
                         "run_id": message.metadata.run_id, "refused": type(exc).__name__})
        raise
    _write(context, describe(reply))
    return reply


def _write(context: Context, entry: dict[str, Any]) -> None:
    if "safecity-config" not in context.node_config:
        return  # not a safecity SuperNode: nothing to say where its data lives
    path = egress_file(node_settings(dict(context.node_config)).data_dir)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with path.open("a") as out:
        out.write(json.dumps(entry, sort_keys=True) + "\n")
