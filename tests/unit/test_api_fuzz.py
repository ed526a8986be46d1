"""Schemathesis over the coordinator's whole OpenAPI document, signed in as each role (and as
nobody): generated requests, valid and invalid, must never get a server error, and every answer
must match the document (status, content type, body schema, headers). Requests go to the app
in process (ASGI); server exceptions are raised, not hidden behind a 500."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import tally
from tests.support.fuzzing import REPEATABLE
from tests.support.world import World, embedded_world

CALLERS = ("anonymous", "police", "judge", "dpo", "planner", "operator", "admin", "node:alpha")
EXAMPLES = 30
# A schema-valid request may still be refused on grounds a schema cannot say (a window that
# ends before it starts, a warrant that is not a draft): those answers are problems, checked.
EXCLUDED = [schemathesis.checks.positive_data_acceptance]
# server-sent events: streamed for the control room only
ENDLESS = frozenset({"GET /alerts/stream", "GET /incidents/stream"})
# waits up to its value while the known query is pending: kept to 0.3 s, longer than the read's
# 0.2 s poll, so that a wait still polls again (a second each was a quarter of the police's and
# the DPO's runs, asleep)
LONG_POLL = {"GET /queries/{query_id}": "wait"}
LONGEST_WAIT = 0.3


def short_waits(label: str, case: schemathesis.Case) -> schemathesis.Case:
    name = LONG_POLL.get(label)
    value = (case.query or {}).get(name)
    if isinstance(value, int | float) and not isinstance(value, bool) and value > LONGEST_WAIT:
        case.query[name] = LONGEST_WAIT
    return case


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory):
    world = embedded_world(tmp_path_factory.mktemp("fuzz"),
                           options={"webhook_allowed_networks": ["127.0.0.1/32"]})
    world.add_node("alpha", "site-a")
    yield world
    world.close()


@pytest.fixture(scope="module")
def known(city: World) -> dict[str, list[Any]]:
    """Identifiers that exist, so generated requests also reach past the not-found checks."""
    warrant = city.registered()
    query = city.client.post("/queries", headers=city.as_("police"), json={
        "warrant_id": warrant["warrant_id"], "targets": ["AB12 CDE"]})
    assert query.status_code == 202, query.text
    hook = city.client.post("/webhooks", headers=city.as_("admin"), json={
        "url": "http://127.0.0.1:9/hook", "types": ["running"]})
    assert hook.status_code == 201, hook.text
    return {"warrant_id": [warrant["warrant_id"], city.draft()["warrant_id"]],
            "query_id": [query.json()["query_id"]], "node_id": [city.nodes["alpha"].node_id],
            "webhook_id": [hook.json()["webhook_id"]], "index": [0, 1, 2]}


def strategy(operation: Any, known: dict[str, list[Any]]) -> st.SearchStrategy:
    modes = [operation.as_strategy(), operation.as_strategy(schemathesis.GenerationMode.NEGATIVE)]
    names = {p.name for p in operation.path_parameters}
    if names and names <= set(known):
        modes.append(st.fixed_dictionaries({n: st.sampled_from(known[n]) for n in names})
                     .flatmap(lambda ids: operation.as_strategy(path_parameters=ids)))
    return st.one_of(modes).map(lambda case: short_waits(operation.label, case))


@pytest.mark.slow  # minutes of generated requests per caller: CI's run, not every change's
@pytest.mark.parametrize("caller", CALLERS)
def test_generated_requests_get_no_server_error_and_match_the_schema(
        city: World, known: dict[str, list[Any]], caller: str) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", city.client.app)
    headers = {} if caller == "anonymous" else city.as_(caller)
    failures: dict[str, list[str]] = defaultdict(list)
    operations = [result.ok() for result in schema.get_all_operations()]
    document = city.client.app.openapi()["paths"]
    assert len(operations) == sum(len(methods) for methods in document.values())
    for operation in operations:
        if operation.label in ENDLESS and caller == "operator":
            continue

        @given(strategy(operation, known))
        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=REPEATABLE,
                  suppress_health_check=list(HealthCheck))
        def check(case: schemathesis.Case) -> None:
            tally.add("generated API requests")
            response = case.call(headers=headers)
            case.validate_response(response, excluded_checks=EXCLUDED)

        try:
            check()
        except Exception as exc:
            causes = getattr(exc, "exceptions", None) or [exc]
            failures[operation.label].append("; ".join(
                f"{type(cause).__name__}: {cause}"[:2000] for cause in causes))
    assert not failures, "\n\n".join(f"{label}: {errors[0]}" for label, errors in failures.items())
