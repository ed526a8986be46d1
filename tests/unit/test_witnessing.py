"""The coordinator's side of witnessing, and what a node makes of cosignatures: bad input from
witnesses (garbage, another key's cosignature, no answer in time) and from a coordinator
(malformed, unknown or too few cosignatures) is refused with its reason, nothing half-applied."""

from __future__ import annotations

import json
import struct
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from audit.checkpoint import Checkpoint
from audit.cosignature import Cosigner
from audit.log import AuditLog
from audit.merkle import leaf_hash
from audit.note import NoteSigner, Signature, parse_note
from audit.records import Actor, Event, LegalBasis
from audit.tree import MerkleTree
from audit.witness import Witness
from audit.witness_client import WitnessEndpoint
from audit.witness_server import witness_app
from contract.queries import LogConsistency
from contract.warrants import WarrantRefused
from coordinator.config import CoordinatorSettings, load_coordinator_settings
from coordinator.errors import WitnessQuorumError
from coordinator.witnessing import Witnessing, witnessing_from
from kernel.errors import ConfigError
from nodes.enrolment import Enrolment
from nodes.query_checks import check_consistent, check_witnessed
from nodes.witnessed_log import Held, LogHead
from privacy.pki import issue, make_ca
from privacy.signing import SigningKey
from tests.support.served import serving_app


def event(n: int) -> Event:
    return Event(actor=Actor(pseudonym="p-1", role="admin", agency="city"), action="consultation",
                 legal_basis=LegalBasis.STATUTE, outcome=f"n{n}")


@pytest.fixture
def log(tmp_path: Path) -> Iterator[AuditLog]:
    audit = AuditLog(f"sqlite:///{tmp_path / 'audit.db'}",
                     NoteSigner("city.example/audit", SigningKey.generate()))
    for n in range(5):
        audit.append(event(n))
    yield audit
    audit.close()


def honest(log: AuditLog, root: Path, name: str) -> tuple[Cosigner, Witness]:
    cosigner = Cosigner(name, SigningKey.generate())
    state = root / f"{name.split('.', maxsplit=1)[0]}.json"
    return cosigner, Witness(cosigner, [log.signer.verifier], state)


class Fault(BaseHTTPRequestHandler):
    """A witness that misbehaves: garbage, another key's cosignature, or no answer in time."""

    mode = "garbage"
    other: Cosigner  # the bad witness's name under another key
    bad: Cosigner  # the bad witness's pinned key

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        if self.mode == "slow":
            time.sleep(5)
        note = parse_note(body.decode().partition("\n\n")[2])
        answer = {"garbage": b"\xff\xfe not a cosignature\n",
                  "other-key": self.other.cosign(note, int(time.time())).line().encode(),
                  "bad-length": Signature(self.bad.name, self.bad.public.key_id,
                                          b"\0" * 10).line().encode()}.get(self.mode, b"")
        self.send_response(200)
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def faulty() -> Iterator[tuple[str, type[Fault]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Fault)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", Fault
    server.shutdown()


@pytest.mark.parametrize("mode", ["garbage", "other-key", "bad-length", "slow"])
def test_a_misbehaving_witness_does_not_count(log: AuditLog, tmp_path: Path, faulty, mode: str
                                              ) -> None:
    url, handler = faulty
    handler.mode = mode
    bad = Cosigner("bad.example/w", SigningKey.generate())
    handler.other = Cosigner("bad.example/w", SigningKey.generate())  # same name, another key
    handler.bad = bad
    good, witness = honest(log, tmp_path, "good.example/w")
    with serving_app(witness_app(witness)) as good_url:
        endpoints = [WitnessEndpoint(good.public, good_url), WitnessEndpoint(bad.public, url)]
        started = time.monotonic()
        with pytest.raises(WitnessQuorumError, match=r"bad\.example/w") as raised:
            Witnessing(log, endpoints, quorum=2, timeout=1.0).witnessed()
        assert time.monotonic() - started < 4  # the slow one is given a second, not five
        assert "good.example/w" not in str(raised.value)  # it cosigned
        # With a quorum of one the good witness is enough, and its cosignature is stored.
        note = parse_note(Witnessing(log, endpoints, quorum=1, timeout=1.0).witnessed())
        assert {s.name for s in note.signatures} == {log.origin, "good.example/w"}
        assert log.cosigned_size("bad.example/w") == 0


def test_the_coordinator_proves_consistency_from_what_each_witness_holds(
        log: AuditLog, tmp_path: Path) -> None:
    one, first = honest(log, tmp_path, "one.example/w")
    two, second = honest(log, tmp_path, "two.example/w")
    with serving_app(witness_app(first)) as url1, serving_app(witness_app(second)) as url2:
        witnessing = Witnessing(log, [WitnessEndpoint(one.public, url1),
                                      WitnessEndpoint(two.public, url2)], 2, 5.0)
        witnessing.witnessed()
        assert first.seen(log.origin).size == 5
        for n in range(7):
            log.append(event(n))
        # Someone else showed witness two a newer checkpoint than this log remembers it saw:
        # it answers 409 with its size, and the coordinator proves from there.
        size = log.size()
        second.cosign(log.checkpoint_at(size - 3).format(),
                      log.consistency_proof(5, size - 3), 5)
        note = parse_note(witnessing.witnessed())
        assert {s.name for s in note.signatures} >= {"one.example/w", "two.example/w"}
        assert first.seen(log.origin).size == second.seen(log.origin).size == size


def enrolment(witnesses: list[Cosigner], quorum: int, log: NoteSigner) -> Enrolment:
    judge = SigningKey.generate().public.text()
    return Enrolment(node_id="alpha", site_id="site-a", cameras=("gate",), queue="node.alpha",
                     coordinator_key=judge, coordinator_sealing_key="x25519:" + "A" * 43 + "=",
                     log_key=log.verifier.vkey(), judge_keys=(judge,), dpo_keys=(judge,),
                     witness_keys=tuple(w.public.vkey() for w in witnesses),
                     witness_quorum=quorum, enrolled_at=datetime.now(UTC))


def test_a_node_counts_only_valid_cosignatures_of_pinned_witnesses() -> None:
    signer = NoteSigner("city.example/audit", SigningKey.generate())
    pinned = [Cosigner(f"w{i}.example/w", SigningKey.generate()) for i in range(3)]
    stranger = Cosigner("w9.example/w", SigningKey.generate())
    impostor = Cosigner("w0.example/w", SigningKey.generate())  # a pinned name, another key
    node = enrolment(pinned, 2, signer)
    tree = MerkleTree(leaf_hash(bytes([i])) for i in range(4))
    note = signer.sign(Checkpoint(signer.name, 4, tree.root()).text())

    def refused(*signatures: Signature) -> str:
        cosigned = note
        for signature in signatures:
            cosigned = cosigned.with_signature(signature)
        with pytest.raises(WarrantRefused) as raised:
            check_witnessed(cosigned.format(), node)
        return raised.value.reason.value

    now = int(time.time())
    assert refused() == "unwitnessed"
    assert refused(pinned[0].cosign(note, now)) == "unwitnessed"  # one is not two
    assert refused(pinned[0].cosign(note, now), stranger.cosign(note, now)) == "unwitnessed"
    assert refused(pinned[0].cosign(note, now), impostor.cosign(note, now)) == "unwitnessed"
    malformed = Signature(pinned[1].name, pinned[1].public.key_id, struct.pack(">Q", now) + b"x")
    assert refused(pinned[0].cosign(note, now), malformed) == "unwitnessed"
    other_text = signer.sign(Checkpoint(signer.name, 3, tree.root(3)).text())
    assert refused(pinned[0].cosign(note, now), pinned[1].cosign(other_text, now)) == "unwitnessed"
    good = note.with_signature(pinned[0].cosign(note, now)).with_signature(
        pinned[2].cosign(note, now))
    assert check_witnessed(good.format(), node).size == 4


def test_a_node_demands_consistency_with_what_it_accepted(tmp_path: Path) -> None:
    tree = MerkleTree(leaf_hash(bytes([i])) for i in range(12))
    fork = MerkleTree(leaf_hash(bytes([i + 100])) for i in range(12))
    held = Held(8, tree.root(8))

    def at(t: MerkleTree, size: int) -> Checkpoint:
        return Checkpoint("city.example/audit", size, t.root(size))

    def proof(t: MerkleTree, a: int, b: int) -> tuple[str, ...]:
        import base64

        return tuple(base64.b64encode(p).decode() for p in t.consistency_proof(a, b))

    check_consistent(at(tree, 12), held, LogConsistency(held_size=8, proof=proof(tree, 8, 12)))
    check_consistent(at(tree, 5), held, LogConsistency(held_size=8, proof=proof(tree, 5, 8)))
    check_consistent(at(tree, 8), held, None)
    cases = {
        "log_fork": (at(fork, 12), LogConsistency(held_size=8, proof=proof(fork, 8, 12))),
        "log_rollback": (at(fork, 5), LogConsistency(held_size=8, proof=proof(fork, 5, 8))),
        "log_conflict": (at(tree, 12), LogConsistency(held_size=7, proof=proof(tree, 7, 12))),
        "bad_message": (at(tree, 12), LogConsistency(held_size=8, proof=("not base64!",))),
    }
    for reason, (checkpoint, consistency) in cases.items():
        with pytest.raises(WarrantRefused) as raised:
            check_consistent(checkpoint, held, consistency)
        assert raised.value.reason.value == reason
    with pytest.raises(WarrantRefused, match="a fork"):
        check_consistent(at(fork, 8), held, None)

    head = LogHead(tmp_path, "city.example/audit")
    with head.locked():
        head.advance(at(tree, 8))
        head.advance(at(tree, 5))  # never goes back
    assert head.held() == Held(8, tree.root(8))
    (tmp_path / "witnessed-log.json").write_text("{not json")
    with pytest.raises(ConfigError, match="restore it"):
        head.held()


def test_enrolment_and_settings_refuse_bad_witness_pins() -> None:
    signer = NoteSigner("city.example/audit", SigningKey.generate())
    witnesses = [Cosigner(f"w{i}.example/w", SigningKey.generate()) for i in range(2)]
    with pytest.raises(ValueError, match="quorum of 3"):
        enrolment(witnesses, 3, signer)
    with pytest.raises(ValueError, match="once"):
        enrolment([witnesses[0], witnesses[0]], 1, signer)
    with pytest.raises(ValueError, match="witness_keys"):
        enrolment([], 1, signer)
    document = json.loads(enrolment(witnesses, 2, signer).model_dump_json())
    with pytest.raises(ValueError):
        Enrolment.model_validate(document | {"witness_keys": ["w0.example/w+00+AAAA"]})
    with pytest.raises(ValueError):
        Enrolment.model_validate(document | {"version": 1})  # pinned no witnesses: re-enrol
    with pytest.raises(ValueError, match="witness_quorum"):
        CoordinatorSettings(witnesses=[{"url": "http://127.0.0.1:1", "key": witnesses[0].public
                                        .vkey()}], witness_quorum=2)
    with pytest.raises(ValueError):
        CoordinatorSettings(witnesses=[{"url": "http://127.0.0.1:1", "key": "nope"}])
    with pytest.raises(ValueError):
        CoordinatorSettings(witnesses=[{"url": "file:///etc/passwd",
                                        "key": witnesses[0].public.vkey()}])


def test_witnesses_over_https_are_checked_against_the_city_ca(log: AuditLog, tmp_path: Path
                                                               ) -> None:
    """A witness whose certificate the city CA issued is reached and cosigns; one whose
    certificate another CA issued (same host name) is refused, the witness named with why."""
    city = make_ca(tmp_path / "city-ca")
    other = make_ca(tmp_path / "other-ca", name="someone else's CA")
    issued = issue(city, tmp_path / "certs", "court", ["127.0.0.1"])
    stranger = issue(other, tmp_path / "other-certs", "civil", ["127.0.0.1"])
    court, court_witness = honest(log, tmp_path, "court.example/w")
    civil, civil_witness = honest(log, tmp_path, "civil.example/w")
    with serving_app(witness_app(court_witness), (issued.certificate, issued.key)) as good, \
            serving_app(witness_app(civil_witness), (stranger.certificate, stranger.key)) as bad:
        assert good.startswith("https://") and bad.startswith("https://")
        settings = CoordinatorSettings(
            city_ca=city.certificate, witness_quorum=2,
            witnesses=[{"url": good, "key": court.public.vkey()},
                       {"url": bad, "key": civil.public.vkey()}])
        ca = str(city.certificate)
        witnessing = witnessing_from(log, [(w.url, w.key, str(w.trusted_ca(settings.city_ca)))
                                           for w in settings.witnesses], 2, 5.0)
        with pytest.raises(WitnessQuorumError) as raised:
            witnessing.witnessed()
        said = str(raised.value)
        assert f"civil.example/w: its TLS certificate at {bad} was refused" in said, said
        assert "certificate verify failed" in said or "unable to get local issuer" in said, said
        assert ca in said and "court.example/w" not in said  # the court's witness cosigned
        assert log.cosigned_size("court.example/w") == log.size()
        assert log.cosigned_size("civil.example/w") == 0
        assert civil_witness.seen(log.origin) is None  # nothing reached it

        # The same witness, trusted through its own `ca`, counts; a host name its certificate
        # does not name is refused even from the right CA.
        own = CoordinatorSettings(city_ca=city.certificate, witnesses=[
            {"url": bad, "key": civil.public.vkey(), "ca": other.certificate}])
        assert own.witnesses[0].trusted_ca(own.city_ca) == other.certificate
        note = parse_note(witnessing_from(log, [(bad, civil.public.vkey(),
                                                 str(other.certificate))], 1, 5.0).witnessed())
        assert "civil.example/w" in {s.name for s in note.signatures}
        by_name = good.replace("127.0.0.1", "localhost")
        with pytest.raises(WitnessQuorumError, match=r"court\.example/w: its TLS certificate "
                           r".*(?i:hostname mismatch|not valid for 'localhost')"):
            log.append(event(99))
            witnessing_from(log, [(by_name, court.public.vkey(), ca)], 1, 5.0).witnessed()


def test_witness_settings_refuse_plain_http_off_loopback_and_unusable_cas(tmp_path: Path
                                                                          ) -> None:
    key = Cosigner("w.example/w", SigningKey.generate()).public.vkey()
    for url in ("http://127.0.0.1:8090", "http://localhost:8090", "http://[::1]:8090"):
        assert CoordinatorSettings(witnesses=[{"url": url, "key": key}]).witnesses[0].url == url
    with pytest.raises(ConfigError, match=r"witnesses\.0\.url: .*plain http only on loopback"):
        load_coordinator_settings(None, witnesses=[{"url": "http://witness.court.example:8090",
                                                    "key": key}])
    not_a_ca = tmp_path / "ca.pem"
    not_a_ca.write_text("not a certificate\n")
    https = {"url": "https://witness.court.example:8090", "key": key}
    with pytest.raises(ConfigError, match=r"city_ca .*ca\.pem: cannot be used to check the "
                       r"HTTPS certificate of the witness at https://witness\.court"):
        load_coordinator_settings(None, city_ca=not_a_ca, witnesses=[https])
    with pytest.raises(ConfigError, match=r"witnesses\.0\.ca .*missing\.pem: cannot be used"):
        load_coordinator_settings(None, witnesses=[https | {"ca": tmp_path / "missing.pem"}])


def test_a_process_witnesses_the_entries_another_process_appended(log: AuditLog,
                                                                 tmp_path: Path) -> None:
    """The coordinator's worker witnesses a clip request's entry the web process logged: its
    own reader of the log had not seen that entry (found by the clip end-to-end test)."""
    worker = AuditLog(f"sqlite:///{tmp_path / 'audit.db'}", log.signer)
    try:
        assert worker.size() == 5
        log.append(event(5))  # by the other process, after the worker last read the log
        good, witness = honest(log, tmp_path, "good.example/w")
        with serving_app(witness_app(witness)) as url:
            note = parse_note(Witnessing(worker, [WitnessEndpoint(good.public, url)], quorum=1,
                                         timeout=5.0).witnessed())
        assert Checkpoint.from_text(note.text).size == 6
    finally:
        worker.close()
