"""The order in which CI's xdist workers get the units of work (tests/conftest.py): the heavy
units first, heaviest first, and never a heavy unit queued behind another on a busy worker."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from tests import conftest

COLLECTION = [
    "tests/e2e/test_demo.py::test_a", "tests/e2e/test_demo.py::test_b",
    "tests/e2e/test_multihost.py::test_a_city_across_hosts",
    "tests/e2e/test_web_pages.py::test_a", "tests/e2e/test_web_pages.py::test_b",
    "tests/e2e/test_web_pages.py::test_c",
    "tests/integration/test_cli.py::test_a", "tests/integration/test_cli.py::test_b",
    "tests/integration/test_cli.py::test_c", "tests/integration/test_cli.py::test_d",
    "tests/integration/test_training_e2e.py::test_fl_start_trains_logs_reports_and_deploys",
    "tests/integration/test_federated.py::test_a", "tests/integration/test_federated.py::test_b",
    "tests/unit/test_merkle.py::test_a", "tests/unit/test_merkle.py::test_b",
    "tests/unit/test_merkle.py::test_c", "tests/unit/test_merkle.py::test_d",
]


class Worker:
    def __init__(self, name: str) -> None:
        self.gateway = SimpleNamespace(id=name)
        self.shutting_down = False
        self.sent: list[str] = []

    def send_runtest_some(self, indexes: list[int]) -> None:
        self.sent += [COLLECTION[i] for i in indexes]

    def shutdown(self) -> None:
        self.shutting_down = True


def scheduler(workers: list[Worker]) -> Any:
    config = SimpleNamespace(getvalue=lambda name: "loadgroup",
                             option=SimpleNamespace(loadscopereorder=True, maxschedchunk=None))
    log = SimpleNamespace(loadscopesched=lambda *a: None, loadgroupsched=lambda *a: None)
    made = conftest.pytest_xdist_make_scheduler(config, log)  # type: ignore[arg-type]
    made.numnodes = len(workers)
    for worker in workers:
        made.add_node(worker)
        made.add_node_collection(worker, COLLECTION)
    made.schedule()
    return made


def units(sent: list[str]) -> list[str]:
    return list(dict.fromkeys(conftest.xdist_unit_of_work(nodeid) for nodeid in sent))


def test_the_heaviest_units_start_first_each_on_its_own_worker() -> None:
    pytest.importorskip("xdist")
    workers = [Worker("gw0"), Worker("gw1"), Worker("gw2")]
    scheduler(workers)
    first = [units(w.sent)[0] for w in workers]
    assert first == ["netns", "demo", "tests/integration/test_federated.py"]
    # what each is sent beyond its heavy unit is light: a unit test from the end of the queue
    for worker in workers:
        assert not set(units(worker.sent)[1:]) & set(conftest.HEAVY), worker.sent


def test_a_worker_gets_the_next_heavy_unit_once_its_own_is_done() -> None:
    pytest.importorskip("xdist")
    workers = [Worker("gw0"), Worker("gw1")]
    made = scheduler(workers)
    multihost, demo = workers
    assert [units(w.sent)[0] for w in workers] == ["netns", "demo"]
    federated = "tests/integration/test_federated.py"
    assert federated not in units(multihost.sent) + units(demo.sent)
    for nodeid in list(demo.sent):  # the demo's tests are done; the multi-host one is not
        if conftest.xdist_unit_of_work(nodeid) == "demo":
            made.mark_test_complete(demo, COLLECTION.index(nodeid))
    assert federated in units(demo.sent)
    assert federated not in units(multihost.sent)


def test_a_module_that_shares_a_costly_fixture_is_one_unit_of_work() -> None:
    module = "tests/unit/test_analytics_accuracy.py"
    assert module in conftest.SHARED_FIXTURE
    assert {conftest.xdist_unit_of_work(f"{module}::{name}")
            for name in ("test_a", "test_b", "test_c")} == {module}
    assert conftest.xdist_unit_of_work("tests/unit/test_merkle.py::test_a") \
        == "tests/unit/test_merkle.py::test_a"
