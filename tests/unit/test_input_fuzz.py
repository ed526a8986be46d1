"""Every parser that reads outside input, fed random input and valid input mutated a little:
messages a node takes from the broker (queries, questions, revocations, models), messages the
coordinator takes from nodes (event batches, live views), warrant and consent files, enrolment
documents, configuration files, tokens, uploaded images and video files. Each one answers with a
refusal or raises one of safecity's errors with a reason; none crashes.

(The audit log's parsers, checkpoints, notes, proofs, receipts and bundles, are fuzzed in
``test_audit_fuzz.py``.)"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from contract.live_views import SignedSnapshot, Snapshot
from contract.queries import SignedQuery
from coordinator.alert_intake import accept
from coordinator.config import load_coordinator_settings
from coordinator.live_views import accept_snapshot
from coordinator.query_messages import open_result
from coordinator.warrant_commands import verify_command
from nodes.config import load_settings
from nodes.enrolment import load_enrolment, parse_enrolment
from nodes.event_sender import message as event_message
from nodes.events import StoredEvent
from nodes.identity import load_identity
from nodes.media import ClipEncoder, VideoReader, decode_clip, decode_image
from nodes.sources.files import VideoFileSource
from privacy.signing import VerifyKey
from privacy.tokens import issue, verify
from tests.support.fuzzing import (
    FUZZ,
    json_values,
    mutated,
    mutated_bytes,
    mutated_json,
    rejected_or_fine,
)
from tests.support.world import T0, World, embedded_world
from tests.unit.test_node_refusals import rogue, stored

LIGHT = FUZZ  # 300 examples
MEDIA = FUZZ.__class__(parent=FUZZ, max_examples=300)  # each decodes a video


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory):
    world = embedded_world(tmp_path_factory.mktemp("inputs"))
    world.add_node("alpha", "site-a")
    (world.root / "coordinator-fuzz.toml").write_text(
        f'data_dir = "{world.settings.data_dir}"\ndatabase_url = "{world.db_url}"\n'
        f'broker_url = "{world.broker}"\nport = 8443\nquery_timeout_seconds = 30\n')
    yield world
    world.close()


@pytest.fixture(scope="module")
def query(city: World) -> dict:
    warrant = city.registered()
    signed, index = stored(city, warrant["warrant_id"])
    return rogue(city, signed, index)


# -- what a node takes from the broker ------------------------------------------------------

@LIGHT
@given(data=st.data())
def test_query_messages_at_the_node(city: World, query: dict, data: st.DataObject) -> None:
    message = data.draw(st.one_of(json_values, mutated_json(query)))
    node = city.service("alpha")
    sealed = rejected_or_fine(lambda: node.queries.answer(message), ())
    result = open_result(sealed, city.svc.keys.sealing, sealed["query_id"], node.enrolment.node_id)
    assert result.result.signed_by(node.identity.signing.public, result.signature)
    if not same_query(message, query):  # e.g. a default left out: the same signed content
        assert result.result.status == "refused" and result.result.reason


def same_query(message: object, query: dict) -> bool:
    try:
        return SignedQuery.model_validate(message) == SignedQuery.model_validate(query)
    except ValidationError:
        return False


@LIGHT
@given(message=json_values)
def test_questions_revocations_and_models_at_the_node(city: World, message: object) -> None:
    node = city.service("alpha")
    for handle in (node.aggregates.answer, node.revocations.answer, node.models.answer):
        answer = rejected_or_fine(lambda handle=handle: handle(message), ())
        assert isinstance(answer, dict)


# -- what the coordinator takes from nodes -----------------------------------------------------

def valid_batch(city: World) -> dict:
    node = city.nodes["alpha"]
    event = StoredEvent(seq=1, type="running", rule="running-1", camera="gate", zone=None,
                        line=None, direction=None, time=T0, count=1, tokens=("0123456789abcdef",))
    return event_message([event], node.node_id, "site-a",
                         load_identity(node.settings.keys_dir).signing)


def valid_snapshot(city: World) -> dict:
    node = city.nodes["alpha"]
    _ok, jpeg = cv2.imencode(".jpg", np.full((36, 64, 3), 90, np.uint8))
    shot = Snapshot(node_id=node.node_id, site="site-a", camera="gate", time=datetime.now(UTC),
                    jpeg=base64.b64encode(jpeg.tobytes()).decode())
    key = load_identity(node.settings.keys_dir).signing
    return SignedSnapshot(snapshot=shot, signature=shot.sign(key)).model_dump(mode="json")


@LIGHT
@given(data=st.data())
def test_event_batches_and_live_views_at_the_coordinator(city: World,
                                                         data: st.DataObject) -> None:
    batch = data.draw(st.one_of(json_values, mutated_json(valid_batch(city))))
    rejected_or_fine(lambda: accept(city.svc, batch))
    snapshot = data.draw(st.one_of(json_values, mutated_json(valid_snapshot(city))))
    rejected_or_fine(lambda: accept_snapshot(city.svc, snapshot))


# -- documents people hand in ------------------------------------------------------------------

@LIGHT
@given(data=st.data())
def test_warrant_and_consent_files(city: World, query: dict, tmp_path_factory,
                                   data: st.DataObject) -> None:  # type: ignore[no-untyped-def]
    signed = query["request"]["warrant"]
    text = data.draw(st.one_of(st.text(max_size=300), mutated(json.dumps(signed)),
                               st.builds(json.dumps, mutated_json(signed))))
    path = tmp_path_factory.mktemp("w") / "warrant.json"
    path.write_text(text, errors="surrogateescape")
    judge = city.judge_key.public.text()
    at = data.draw(st.one_of(st.none(), st.text(max_size=30),
                             st.just((T0 + timedelta(hours=1)).isoformat())))
    key = data.draw(st.one_of(st.just(judge), mutated(judge)))
    rejected_or_fine(lambda: verify_command.callback(path, (key,), (), at))


@LIGHT
@given(data=st.data())
def test_enrolment_documents(city: World, data: st.DataObject) -> None:
    good = load_enrolment(city.nodes["alpha"].settings.data_dir).model_dump(mode="json")
    text = data.draw(st.one_of(st.text(max_size=300), mutated(json.dumps(good)),
                               st.builds(json.dumps, mutated_json(good))))
    rejected_or_fine(lambda: parse_enrolment(text, "enrolment.json"))


@LIGHT
@given(data=st.data())
def test_configuration_files(city: World, tmp_path_factory,
                             data: st.DataObject) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("c")
    for good, load in ((city.nodes["alpha"].config.read_text(), load_settings),
                       ((city.root / "coordinator-fuzz.toml").read_text(),
                        load_coordinator_settings)):
        text = data.draw(st.one_of(st.text(max_size=300), mutated(good)))
        path = folder / "settings.toml"
        path.write_text(text, errors="surrogateescape")
        rejected_or_fine(lambda load=load, path=path: load(path))


@LIGHT
@given(data=st.data())
def test_tokens(city: World, data: st.DataObject) -> None:
    now = int(T0.timestamp())
    good = issue({"sub": "police", "role": "police_analyst", "aud": "a", "iat": now,
                  "exp": now + 60}, city.svc.keys.token, "token")
    token = data.draw(st.one_of(st.text(max_size=200), mutated(good)))
    rejected_or_fine(lambda: verify(token, city.svc.keys.token.public, "a", now))
    rejected_or_fine(lambda: VerifyKey.parse(token))


# -- pictures and video ------------------------------------------------------------------------

def small_png() -> bytes:
    _ok, png = cv2.imencode(".png", np.indices((24, 32)).sum(axis=0).astype(np.uint8))
    return png.tobytes()


@LIGHT
@given(data=st.one_of(st.binary(max_size=400), mutated_bytes(small_png())))
def test_uploaded_images(city: World, data: bytes) -> None:
    rejected_or_fine(lambda: decode_image(data))
    body = {"warrant_id": "w-none", "targets": ["person-1"],
            "references": {"person-1": base64.b64encode(data).decode()}}
    response = city.client.post("/queries", headers=city.as_("police"), json=body)
    assert response.status_code in (404, 413, 422), response.text
    assert response.headers["content-type"] == "application/problem+json"


@pytest.fixture(scope="module")
def clip() -> bytes:
    encoder = ClipEncoder(10.0)
    for i in range(10):
        encoder.add(np.full((48, 64, 3), 20 * i, np.uint8))
    return encoder.finish()


def decode_all(path: Path) -> int:
    with VideoReader(path) as reader:
        return sum(1 for _ in reader.packets())


@MEDIA
@given(data=st.data())
def test_video_containers(clip: bytes, tmp_path_factory, data: st.DataObject) -> None:  # type: ignore[no-untyped-def]
    blob = data.draw(st.one_of(st.binary(max_size=600), mutated_bytes(clip, within=256),
                               mutated_bytes(clip)))
    rejected_or_fine(lambda: sum(1 for _ in decode_clip(blob)))
    path = tmp_path_factory.mktemp("v") / "clip.mp4"
    path.write_bytes(blob)
    rejected_or_fine(lambda: decode_all(path))
    rejected_or_fine(lambda: sum(1 for _ in VideoFileSource(path).frames()))


def test_the_valid_inputs_are_accepted(city: World, query: dict, clip: bytes,
                                       tmp_path: Path) -> None:
    """The fuzzed documents start valid: what the properties above reject is the mutation."""
    node = city.service("alpha")
    sealed = node.queries.answer(query)
    result = open_result(sealed, city.svc.keys.sealing, sealed["query_id"], node.enrolment.node_id)
    assert result.result.status == "answered"
    assert accept(city.svc, valid_batch(city)).duplicates >= 0
    assert accept_snapshot(city.svc, valid_snapshot(city)) is not None
    assert len(list(decode_clip(clip))) == 10
    assert decode_image(small_png()).shape == (24, 32, 3)
    assert load_coordinator_settings(city.root / "coordinator-fuzz.toml").port == 8443
    assert load_settings(city.nodes["alpha"].config).site_id == "site-a"
    path = tmp_path / "w.json"
    path.write_text(json.dumps(query["request"]["warrant"]))
    verify_command.callback(path, (city.judge_key.public.text(),), (), None)
