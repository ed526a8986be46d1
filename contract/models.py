"""A trained model on its way back to the nodes: the global parameters of one federated run,
signed by the coordinator's dispatch key, which every node pinned at enrolment. A node installs
a model only if the signature checks and the parameters fit the task's model exactly."""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import datetime
from typing import ClassVar

import numpy as np
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contract.queries import Signed
from kernel.errors import VerificationError

MAX_PARAMETERS = 10_000_000  # float32 values: 40 MB
_NAME = r"^[a-z0-9][a-z0-9_.:-]{0,127}$"


class DeployedModel(Signed):
    DOMAIN: ClassVar[bytes] = b"safecity model/v1\n"

    version: int = 1
    task: str = Field(pattern=_NAME)
    run_id: str = Field(pattern=_NAME)
    shapes: tuple[tuple[int, ...], ...] = Field(max_length=1000)
    parameters: str = Field(description="base64 of every tensor's float32 values, "
                            "little-endian, one after another")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    issued_at: AwareDatetime

    def arrays(self) -> list[np.ndarray]:
        """The tensors, checked against the stated shapes and digest."""
        try:
            raw = base64.b64decode(self.parameters, validate=True)
        except (binascii.Error, ValueError):
            raise VerificationError("the model's parameters are not base64") from None
        if hashlib.sha256(raw).hexdigest() != self.sha256:
            raise VerificationError("the model's parameters do not match their digest")
        sizes = [int(np.prod(s)) if s else 1 for s in self.shapes]
        if any(d < 0 for s in self.shapes for d in s) or sum(sizes) * 4 != len(raw) \
                or sum(sizes) > MAX_PARAMETERS:
            raise VerificationError("the model's parameters do not fill its stated shapes")
        values = np.frombuffer(raw, dtype="<f4")
        arrays, start = [], 0
        for shape, size in zip(self.shapes, sizes, strict=True):
            arrays.append(values[start:start + size].reshape(shape).astype(np.float32))
            start += size
        return arrays


def pack(task: str, run_id: str, arrays: list[np.ndarray], issued_at: datetime
         ) -> DeployedModel:
    raw = b"".join(np.ascontiguousarray(a, dtype="<f4").tobytes() for a in arrays)
    return DeployedModel(task=task, run_id=run_id,
                         shapes=tuple(tuple(int(d) for d in np.shape(a)) for a in arrays),
                         parameters=base64.b64encode(raw).decode(),
                         sha256=hashlib.sha256(raw).hexdigest(), issued_at=issued_at)


class SignedModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model: DeployedModel
    signature: str = Field(max_length=200)
