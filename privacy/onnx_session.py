"""An onnxruntime session on the CPU for a model of the registry (or a caller's own file), the
way every detector here opens one: ``threads`` intra-op threads that sleep when idle, one
inter-op thread (each detector is called from one thread at a time), warnings off, and a load
failure turned into :class:`~privacy.errors.ModelError` naming what was being loaded."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from privacy.errors import ModelError
from privacy.model_registry import VerifiedModel, loadable

if TYPE_CHECKING:
    import onnxruntime


def cpu_session(model: Path | VerifiedModel, threads: int, what: str
                ) -> onnxruntime.InferenceSession:
    import onnxruntime as ort  # imported here: loading it costs ~0.3 s

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # Idle intra-op threads sleep instead of spinning: a node runs several sessions (objects,
    # text, pose) beside decoding and encoding on a few cores, and a spinning
    # pool burns the core the next stage needs (bench/redact.py: 11 -> 15 frames/s at 1080p).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(loadable(model), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ModelError(f"cannot load {what} {model}: {exc}") from None
