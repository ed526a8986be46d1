from __future__ import annotations

import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from privacy import model_registry
from privacy.redaction.engine import Detectors
from privacy.redaction.policy import RedactionPolicy
from simulation.synthetic import SceneSpec, write_scene_video


@pytest.fixture(scope="session")
def model_dir() -> Path:
    """The model cache the README's test command filled (`safecity models install`)."""
    path = Path(os.environ.get("SAFECITY_MODEL_DIR") or model_registry.default_cache_dir())
    states = model_registry.status(path)
    assert all(s == "ok" for s in states.values()), (
        f"models not installed in {path}: {states}; run `safecity models install`"
    )
    return path


@pytest.fixture(scope="session")
def policy() -> RedactionPolicy:
    return RedactionPolicy()


@pytest.fixture(scope="session")
def detectors(policy: RedactionPolicy, model_dir: Path) -> Detectors:
    return Detectors(policy, model_dir)


@pytest.fixture(scope="session")
def scene_video(tmp_path_factory: pytest.TempPathFactory):
    """A 2-second 640x360 street clip with audio, faces and plates, and its ground truth."""
    spec = SceneSpec(width=640, height=360, seconds=2.0, people=4, vehicles=2,
                     face_sizes=(32, 80), plate_widths=(90, 140), seed=4)
    path = tmp_path_factory.mktemp("video") / "street.mp4"
    truth = write_scene_video(path, spec)
    return path, spec, truth


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory, model_dir: Path):  # type: ignore[no-untyped-def]
    """The README's main job, run once as a real process for the tests that inspect it."""
    from tests.support.demo_run import run_demo

    return run_demo(tmp_path_factory.mktemp("demo") / "demo", model_dir)


PG_ADMIN = os.environ.get("SAFECITY_TEST_PG",
                          "host=127.0.0.1 port=5432 user=postgres dbname=postgres")


@pytest.fixture
def postgres_url():
    """A fresh PostgreSQL database for one test (the server is started by .ci/run)."""
    import uuid

    import psycopg

    name = f"safecity_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    params = dict(item.split("=", 1) for item in PG_ADMIN.split())
    user, host = params.get("user", "postgres"), params.get("host", "127.0.0.1")
    yield f"postgresql+psycopg://{user}@{host}:{params.get('port', '5432')}/{name}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def log_signer():
    from audit.note import NoteSigner
    from privacy.signing import SigningKey

    return NoteSigner("city.example/audit", SigningKey.generate())


def audit_event(n: int = 0, **details):
    from audit.records import Actor, Event

    return Event(actor=Actor(pseudonym=f"officer-{n % 7}", role="police_analyst", agency="city-pd"),
                 action="consultation", legal_basis="warrant", warrant_id=f"w-{n % 3}",
                 purpose_code="serious-crime", outcome="answered", counts_returned=n % 5,
                 details=details)


class Receiver(BaseHTTPRequestHandler):
    """A webhook receiver (signage, IoT) that records what it is sent."""


    got: ClassVar[list[tuple[dict[str, str], bytes]]] = []  # shared: one handler per request
    status = 204
    seconds = 0.0  # how long it takes to answer (a slow receiver holds a delivery in flight)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        type(self).got.append(({k.lower(): v for k, v in self.headers.items()}, body))
        time.sleep(type(self).seconds)
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def receiver():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    Receiver.got, Receiver.status, Receiver.seconds = [], 204, 0.0
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", Receiver
    server.shutdown()


TIERS = ("unit", "integration", "e2e")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test is marked with its tier, the folder it lives in, so that `-m unit` selects
    what `pytest tests/unit` runs."""
    root = Path(__file__).parent
    for item in items:
        tier = item.path.relative_to(root).parts[0]
        if tier in TIERS:
            item.add_marker(getattr(pytest.mark, tier))


# Modules whose tests share one xdist worker: those that inspect the demo (a session fixture, so
# run once per worker that needs it) and those that make network namespaces (random 10.x subnets).
SHARED_WORKER = {"tests/e2e/test_demo.py": "demo", "tests/e2e/test_egress.py": "demo",
                 "tests/e2e/test_secrets_in_logs.py": "demo",
                 "tests/e2e/test_multihost.py": "netns",
                 "tests/e2e/test_onvif_on_a_network.py": "netns"}


# Unit modules whose tests all use one module fixture that takes most of their time: run as
# one unit of work, so that it is built once rather than on each worker that gets one of them
# (alone: test_analytics_accuracy.py's every scripted scene rendered and analysed ~30 s,
# test_trajectories.py's trained model ~7 s, test_detection_vtest.py's decoded frames ~4 s,
# test_real_redaction.py's redacted photos ~7 s).
SHARED_FIXTURE = frozenset({"tests/unit/test_analytics_accuracy.py",
                            "tests/unit/test_trajectories.py",
                            "tests/unit/test_detection_vtest.py",
                            "tests/unit/test_real_redaction.py"})


def xdist_unit_of_work(nodeid: str) -> str:
    """What one xdist worker runs as a whole: the demo's tests together, the network
    namespace tests together, each integration and end-to-end module (its module fixtures are
    built once, its Redis databases are its own), the unit modules of ``SHARED_FIXTURE``, and
    each other unit test on its own."""
    path = nodeid.split("::", 1)[0]
    if path in SHARED_WORKER:
        return SHARED_WORKER[path]
    if path in SHARED_FIXTURE:
        return path
    return path if path.startswith(("tests/integration/", "tests/e2e/")) else nodeid


# The units of work that take minutes, with the seconds each took on a loaded 2-core CI run
# (tests/e2e/test_multihost.py with its netns partner ~15 min, the demo's ~10 min). Everything
# else takes well under a minute. The scheduler below starts these first, heaviest first, so that
# none of them starts near the end of the run and holds one worker while the others are idle.
HEAVY: dict[str, float] = {
    "netns": 900,
    "demo": 650,
    "tests/integration/test_federated.py": 600,
    "tests/integration/test_training_e2e.py": 530,
    "tests/integration/test_faults.py": 450,
    "tests/integration/test_audit_cli.py": 200,
    "tests/e2e/test_clip_player.py": 40,  # Chromium, a served coordinator
    "tests/e2e/test_clip_end_to_end.py": 60,  # Chromium, node and coordinator workers
    "tests/integration/test_delivery_status.py": 40,  # mosquitto, a coordinator worker
    "tests/integration/test_mqtt_connection_status.py": 30,  # mosquitto, a worker killed
    "tests/e2e/test_delivery_banner.py": 60,  # Chromium, mosquitto, the pages' 15 s polls
    "tests/integration/test_clips_postgresql.py": 40,  # a coordinator worker process
    "tests/integration/test_broker_junk_worker.py": 15,  # a coordinator worker process
    "tests/integration/test_worker_intake_process.py": 15,  # a coordinator worker process
    "tests/unit/test_analytics_accuracy.py": 60,  # every scripted scene rendered and analysed
    "tests/unit/test_aggression_vtest.py::test_no_aggression_or_weapon_on_ordinary_footage": 180,
    "tests/unit/test_behaviour_learning.py::test_the_federated_model_beats_every_site_alone": 110,
}


def heaviest_first(units: list[str]) -> list[str]:
    """The order in which the scheduler hands out units of work: the heavy ones first, heaviest
    first, then the others in the order they came (xdist's: most tests first)."""
    return sorted(units, key=lambda unit: -HEAVY.get(unit, 0.0))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):  # type: ignore[no-untyped-def]
    """`--dist loadgroup` with the units of work above. (pytest-xdist 3.8 groups by a suffix
    it writes into node ids, which pytest 9.2's node ids no longer take: pytest-xdist#1386.)

    The heavy units go first, heaviest first. A worker is always sent one unit beyond the one it
    runs (it needs the next test to finish the current one); while it still has a heavy unit to
    run, that extra unit is a light one from the end of the queue, so that a heavy unit never
    waits behind another on a busy worker while a free worker could take it."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class TierScheduling(LoadGroupScheduling):
        ordered = False

        def _split_scope(self, nodeid: str) -> str:
            return xdist_unit_of_work(nodeid)

        def _assign_work_unit(self, node) -> None:  # type: ignore[no-untyped-def]
            if not self.ordered:
                units = dict(self.workqueue)
                self.workqueue.clear()
                for unit in heaviest_first(list(units)):
                    self.workqueue[unit] = units[unit]
                self.ordered = True
            busy = any(unit in HEAVY and not all(tests.values())
                       for unit, tests in self.assigned_work.get(node, {}).items())
            if busy and len(self.workqueue) > 1:
                self.workqueue.move_to_end(next(reversed(self.workqueue)), last=False)
            super()._assign_work_unit(node)

    return TierScheduling(config, log)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Under xdist each worker hands its hardening counts to the controller (see below)."""
    from tests.support.tally import counts

    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["tally"] = dict(counts)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:  # type: ignore[no-untyped-def]
    """The controller adds up what its xdist workers counted (a pytest-xdist hook)."""
    from tests.support.tally import counts

    counts.update(getattr(node, "workeroutput", {}).get("tally", {}))


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # type: ignore[no-untyped-def]
    from tests.support.tally import KINDS, counts

    if not counts:
        return
    failed = len(terminalreporter.stats.get("failed", [])) + len(
        terminalreporter.stats.get("error", []))
    terminalreporter.write_sep("-", "hardening")
    for kind in KINDS:
        if counts[kind]:
            terminalreporter.write_line(f"{counts[kind]:>8} {kind}")
    terminalreporter.write_line(f"{failed:>8} failed tests")
