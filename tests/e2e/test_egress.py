"""Egress proof over a full demo run: every payload the demo's nodes sent, taken from where it
lands, not from the nodes' own account of it:

- the broker (the embedded broker keeps every delivered message, ``visible = 0``): what nodes
  publish (event batches, live views, alerts' evidence, the frames of the clip the demo's
  operator asked for);
- the result store: every answer a node's worker returned (sealed query answers, opened here
  with the coordinator's key; aggregate answers; acknowledgements);
- Flower: every reply a node's ClientApp sent, as its outermost mod wrote it down at the node
  (``egress/flower.jsonl``); the SuperLink sees only TLS from the SuperNode.

Each payload must be of an allowed type and parse as exactly that type (extra fields are
refused); every picture in any of them goes through the face detector that finds faces in the
raw input: it finds none. Nodes make no HTTP requests (enrolment documents are carried by the
operator), so there is no HTTP egress to capture."""

from __future__ import annotations

import base64
import binascii
import json
import sqlite3
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from pydantic import TypeAdapter

from contract.aggregates import SignedAggregateResult
from contract.events import SignedEventBatch
from contract.evidence import SignedEvidence
from contract.evidence_clips import SignedClipFrame, SignedClipRefusal
from contract.exports import SignedExportReport
from contract.live_views import SignedSnapshot
from contract.pins import SignedPinAck
from contract.queries import SealedResult
from contract.tasks import (
    AGGREGATE_TASK,
    CLIP_REQUEST_TASK,
    CLIP_TASK,
    EVENTS_TASK,
    EVIDENCE_TASK,
    EXPORT_REPORT_TASK,
    MODEL_TASK,
    PIN_TASK,
    QUERY_TASK,
    REVOCATION_TASK,
    SEND_CLIP_REQUEST_TASK,
    SNAPSHOT_TASK,
)
from coordinator.keys import load_keys
from coordinator.query_messages import open_result
from nodes.media import VideoReader
from privacy import model_registry
from privacy.redaction.faces import CenterFaceDetector
from tests.support import tally
from tests.support.demo_run import DemoRun

PUBLISHED_BY_NODES: dict[str, Callable[[Any], Any]] = {
    EVENTS_TASK: SignedEventBatch.model_validate, SNAPSHOT_TASK: SignedSnapshot.model_validate,
    EVIDENCE_TASK: SignedEvidence.model_validate,
    EXPORT_REPORT_TASK: SignedExportReport.model_validate,
    # an evidence clip's frame, or the node's refusal to send the clip
    CLIP_TASK: TypeAdapter(SignedClipFrame | SignedClipRefusal).validate_python}
RUN_BY_NODES = {QUERY_TASK, AGGREGATE_TASK, REVOCATION_TASK, MODEL_TASK, PIN_TASK,
                CLIP_REQUEST_TASK}
SENT_TO_NODES = RUN_BY_NODES  # from the coordinator: not egress
# the coordinator's own work, queued for its own worker (sign and send an operator's logged
# clip request): not egress either
COORDINATOR_OWN = {SEND_CLIP_REQUEST_TASK}
NODE_FOLDERS = ("node", "north-hall")

# What a node's ClientApp may send: the record names (and, in them, the keys) of each reply.
FLOWER_REPLIES: dict[str, dict[str, set[str]]] = {
    "get_properties": {"getpropertiesres.properties": {"admitted", "epsilon-left", "site",
                                                       "reason"},
                       "getpropertiesres.status": {"code", "message"}},
    "train": {"secaggplus_configs": {"pk1", "pk2", "ctxts", "dsts", "masked_params", "nids",
                                     "shares"},
              "fitres.metrics": {"epsilon", "loss", "site"},
              "fitres.status": {"code", "message"},
              "fitres.num_examples": {"num_examples"}},
    "evaluate": {"evaluateres.metrics": {"accuracy", "auroc", "score", "loss"},
                 "evaluateres.status": {"code", "message"},
                 "evaluateres.loss": {"loss"}, "evaluateres.num_examples": {"num_examples"}},
}


def broker_messages(folder: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(f"file:{folder / 'broker.sqlite'}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT q.name, m.payload FROM kombu_message m "
                          "JOIN kombu_queue q ON q.id = m.queue_id").fetchall()
    found = []
    for queue, payload in rows:
        envelope = json.loads(payload)
        assert envelope["properties"]["body_encoding"] == "base64"
        args, kwargs, _ = json.loads(base64.b64decode(envelope["body"]))
        found.append({"queue": queue, "task": envelope["headers"]["task"],
                      "id": envelope["headers"]["id"], "args": args, "kwargs": kwargs})
    return found


def stored_results(folder: Path) -> dict[str, Any]:
    with sqlite3.connect(f"file:{folder / 'results.sqlite'}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT task_id, result FROM celery_taskmeta").fetchall()
    return {task_id: json.loads(result) for task_id, result in rows if result is not None}


def pictures(value: Any) -> list[np.ndarray]:
    """Every string anywhere in ``value`` that decodes as an image."""
    found = []
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list | tuple):
        for item in value:
            found += pictures(item)
    elif isinstance(value, str) and len(value) > 64:
        try:
            data = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return found
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if image is not None:
            found.append(image)
    return found


@pytest.fixture(scope="module")
def egress(demo: DemoRun) -> dict[str, Any]:
    """What left the demo's nodes, checked type by type; the pictures in it."""
    assert demo.returncode == 0, demo.stderr
    folder = demo.out / "coordinator"
    keys = load_keys(folder / "keys", "city.safecity/audit")
    messages = broker_messages(folder)
    results = stored_results(folder)
    kinds: Counter[str] = Counter()
    images: list[np.ndarray] = []
    evidence: list[np.ndarray] = []  # the alerts' snapshots, among the images
    clips: list[np.ndarray] = []  # the frames of the clip the demo's operator asked for
    unknown = [m["task"] for m in messages if m["task"] not in PUBLISHED_BY_NODES
               and m["task"] not in SENT_TO_NODES and m["task"] not in COORDINATOR_OWN]
    assert not unknown, f"messages of a type nobody allowed: {unknown}"
    for message in messages:
        if message["task"] in PUBLISHED_BY_NODES:
            (body,) = message["args"]
            PUBLISHED_BY_NODES[message["task"]](body)  # exactly that, no more
            kinds[message["task"]] += 1
            images += pictures(body)
            if message["task"] == EVIDENCE_TASK:
                evidence += pictures(body)
            if message["task"] == CLIP_TASK:
                clips += pictures(body)
    tasks = {m["id"]: m["task"] for m in messages}
    for task_id, result in results.items():
        task = tasks.get(task_id)
        assert task in RUN_BY_NODES, f"a stored result of no node task: {task_id} ({task})"
        if task == QUERY_TASK:
            sealed = SealedResult.model_validate(result)
            opened = open_result(result, keys.sealing, sealed.query_id, sealed.node_id)
            images += pictures(opened.model_dump(mode="json"))
        elif task == AGGREGATE_TASK:
            SignedAggregateResult.model_validate(result)
        elif task == PIN_TASK:
            SignedPinAck.model_validate(result)
        elif task == CLIP_REQUEST_TASK:  # what the node did with it; the frames go apart
            assert set(result) == {"request_id", "outcome", "frames", "again"}, result
            assert isinstance(result["frames"], int) and len(result["outcome"]) < 64, result
        else:  # acknowledgements: a node id, a flag, a reason; nothing else
            assert set(result) <= {"node_id", "recorded", "installed", "detail", "task",
                                   "run_id", "threshold", "calibrated_on"}, result
        images += pictures(result)
        kinds[task] += 1
    return {"kinds": kinds, "images": images, "evidence": evidence, "clips": clips,
            "messages": len(messages), "results": len(results)}


@pytest.mark.slow
def test_only_allowed_message_types_leave_the_nodes(egress: dict[str, Any]) -> None:
    kinds = egress["kinds"]
    assert kinds[EVENTS_TASK] >= 1 and kinds[QUERY_TASK] >= 1 and kinds[AGGREGATE_TASK] >= 1
    assert kinds[EVIDENCE_TASK] >= 1 and kinds[CLIP_TASK] >= 1
    tally.add("egress payloads checked", sum(kinds.values()))


@pytest.mark.slow
def test_no_face_in_any_picture_that_left_a_node(egress: dict[str, Any], demo: DemoRun,
                                                model_dir: Path) -> None:
    """At the pictures' own size and enlarged to the camera's: the detector that finds faces in
    the raw input, brought down to the same size, finds none in what left."""
    detector = CenterFaceDetector(model_registry.model_path("centerface", model_dir))
    assert egress["images"], "the demo's answers carried no picture to check"
    # the alerts' evidence among them: one picture a message, each checked below
    assert len(egress["evidence"]) == egress["kinds"][EVIDENCE_TASK] >= 1
    # and the clip's frames, one picture a frame (a refusal carries none)
    assert 1 <= len(egress["clips"]) <= egress["kinds"][CLIP_TASK]
    height, width = egress["images"][0].shape[:2]
    raw = 0
    with VideoReader(demo.out / "input" / "high-street.mp4") as reader:
        for index, (kind, frame) in enumerate(reader.packets()):
            if kind == "video" and index % 10 == 0:
                camera_size = (frame.shape[1], frame.shape[0])
                raw += len(detector.detect(cv2.resize(frame, (width, height),
                                                      interpolation=cv2.INTER_AREA)))
    assert raw >= 10  # it sees faces in raw frames at the size the pictures left at
    for image in egress["images"]:
        enlarged = cv2.resize(image, camera_size, interpolation=cv2.INTER_CUBIC)
        assert detector.detect(image) == [] and detector.detect(enlarged) == [], image.shape


@pytest.mark.slow
def test_flower_replies_carry_only_masked_updates_and_protocol_values(demo: DemoRun) -> None:
    from privacy.learning.tasks import get_task

    tensors = len(list(get_task("trajectory").model().parameters()))
    replies = 0
    for name in NODE_FOLDERS:
        lines = (demo.out / name / "egress" / "flower.jsonl").read_text().splitlines()
        assert lines, f"{name} sent nothing to the SuperLink"
        for line in lines:
            reply = json.loads(line)
            allowed = FLOWER_REPLIES[reply["message_type"]]
            records = {**reply["configs"], **reply["metrics"]}
            for record, values in records.items():
                assert set(values) <= allowed.get(record, set()), (name, record, values)
            # the update itself never in the clear: only masked, under SecAgg+
            assert all(arrays == [] for arrays in reply["arrays"].values()), reply
            masked = reply["configs"].get("secaggplus_configs", {}).get("masked_params")
            if masked:  # one masked vector per tensor, and SecAgg+'s weight
                assert masked["size"] == tensors + 1 and masked["items"] == ["bytes"]
            replies += 1
    assert replies >= 12
    tally.add("egress payloads checked", replies)
