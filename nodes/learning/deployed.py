"""Models the federation trained, installed at the node: checked against the coordinator's
pinned key, loaded into the task's model (exact shapes), and, for the unusual-behaviour model,
calibrated on the site's own trajectories: the alert threshold is the score that only
``unusual_quantile`` of the site's recent tracks reach. The calibration stays at the node.

An installed model is a file under ``data_dir/models`` (written atomically); the cameras load it
when they start, checking its signature again."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from pydantic import ValidationError

from contract.models import SignedModel
from kernel.atomic_file import write_atomic
from kernel.errors import ConfigError, VerificationError
from nodes.config import NodeSettings
from nodes.enrolment import Enrolment
from nodes.learning.local_data import trajectory_store
from privacy.learning.movement import features
from privacy.learning.tasks import get_task, load_parameters
from privacy.learning.trajectory import anomaly_scores, peak_scores
from privacy.signing import VerifyKey


def model_file(settings: NodeSettings, task: str) -> Path:
    return settings.data_dir / "models" / f"{task}.json"


def checked(message: object, enrolment: Enrolment) -> SignedModel:
    """The signed model, or VerificationError saying what is wrong with it."""
    try:
        signed = SignedModel.model_validate(message)
    except ValidationError as exc:
        raise VerificationError(f"not a signed model: {exc.errors()[0]['msg']}") from None
    if not signed.model.signed_by(VerifyKey.parse(enrolment.coordinator_key), signed.signature):
        raise VerificationError("the model is not signed by the coordinator this node pinned")
    task = get_task(signed.model.task)
    if not task.deployed:
        raise VerificationError(f"the task {task.name} is not one that runs at the nodes")
    try:
        load_parameters(task.model(), signed.model.arrays())
    except ConfigError as exc:
        raise VerificationError(f"the model does not fit the task's network: {exc}") from None
    return signed


@dataclass(frozen=True)
class Installed:
    task: str
    run_id: str
    threshold: float | None  # None: too few of the site's own tracks to calibrate on
    calibrated_on: int


def install(settings: NodeSettings, enrolment: Enrolment, message: object) -> Installed:
    signed = checked(message, enrolment)
    threshold, count = None, 0
    if signed.model.task == "trajectory":
        threshold, count = calibrate(settings, signed)
    path = model_file(settings, signed.model.task)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomic(path, json.dumps({
        "signed": signed.model_dump(mode="json"), "threshold": threshold,
        "calibrated_on": count, "installed_at": datetime.now(UTC).isoformat()}))
    return Installed(signed.model.task, signed.model.run_id, threshold, count)


def calibrate(settings: NodeSettings, signed: SignedModel) -> tuple[float | None, int]:
    """The threshold that only ``unusual_quantile`` of the site's own tracks would have
    crossed at any moment of live scoring (a track is scored many times as it goes)."""
    store = trajectory_store(settings)
    try:
        kept = store.load("person")
    finally:
        store.close()
    if len(kept) < settings.min_training_examples:
        return None, len(kept)
    network = get_task(signed.model.task).model()
    load_parameters(network, signed.model.arrays())
    return float(np.quantile(peak_scores(network, kept), settings.unusual_quantile)), len(kept)


@dataclass
class BehaviourModel:
    """The installed unusual-behaviour model: scores a trajectory (rows of seconds, x, y in
    frame widths); above ``threshold`` is unusual."""

    network: torch.nn.Module
    threshold: float
    run_id: str

    def score(self, points: np.ndarray) -> float:
        return float(anomaly_scores(self.network, features(points)[None, :])[0])


def load_behaviour_model(settings: NodeSettings, enrolment: Enrolment) -> BehaviourModel | None:
    """The installed trajectory model, or None when there is none or it is not calibrated."""
    path = model_file(settings, "trajectory")
    if not path.exists():
        return None
    stored = json.loads(path.read_text())
    signed = checked(stored["signed"], enrolment)
    if stored.get("threshold") is None:
        return None
    network = get_task("trajectory").model()
    load_parameters(network, signed.model.arrays())
    return BehaviourModel(network, float(stored["threshold"]), signed.model.run_id)
