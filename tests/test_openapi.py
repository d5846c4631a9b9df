"""cli/carepg/web/openapi.json says what the functions' COMMENTs say.

Every API operation names the function that answers it ("Answered by shifts.f()"), and the description is checked
against that function as the database holds it: the API role may call it, every error its COMMENT lists is a
documented response (through errors.py, the one map of SQLSTATEs to HTTP statuses), every refusal reason it names
(DETAIL ...) is in the operation's text, and every bound it states for an argument ("max_rows: 1..1000", "per_day
(1..100)", "at most 62 days"; or those of the function it has "the same arguments" as) is the bound of the HTTP
parameter. A COMMENT that changes one of these fails here until openapi.json follows.
"""

from __future__ import annotations

import json
import re

import psycopg
import pytest

from carepg import errors
from carepg.web.app import OPENAPI

pytestmark = pytest.mark.fast

SPEC = json.loads(OPENAPI.read_text())
# The one HTTP parameter named differently from the SQL argument it becomes (cli/carepg/web/app.py).
PARAMETER_OF_ARGUMENT = {"max_rows": "limit"}
OPERATIONS = [
    (f"{method.upper()} {path}", operation)
    for path, item in SPEC["paths"].items()
    if path.startswith("/workers/")
    for method, operation in item.items()
]


def answered_by(operation: dict) -> str:
    names = re.findall(r"Answered by (shifts\.\w+)\(\)", operation.get("description", ""))
    assert len(names) == 1, f"{operation['operationId']} names no function (\"Answered by shifts.f()\")"
    return names[0]


def function(conn: psycopg.Connection, name: str) -> tuple[str, list[str], bool]:
    """(COMMENT, input argument names, may carepg_api call it) of the one function called `name`."""
    rows = conn.execute("""
        SELECT obj_description(p.oid, 'pg_proc'),
               array(SELECT a.name FROM unnest(p.proargnames, coalesce(p.proargmodes::text[],
                                                                       array_fill('i'::text, ARRAY[p.pronargs])))
                                         AS a(name, mode) WHERE a.mode IN ('i', 'b', 'v')),
               has_function_privilege('carepg_api', p.oid, 'EXECUTE')
        FROM pg_proc AS p WHERE p.pronamespace::regnamespace::text || '.' || p.proname = %s
    """, (name,)).fetchall()  # fmt: skip
    assert len(rows) == 1, f"{name}: {len(rows)} functions"
    return rows[0]


def test_the_workers_operations_are_the_ones_checked():
    assert {op["operationId"] for _, op in OPERATIONS} == {
        "listWorkerShifts", "listWorkerDays", "listWorkerClaims", "claimShift", "releaseShift",
        "followWorkerShifts"}  # fmt: skip


@pytest.mark.parametrize(("route", "operation"), OPERATIONS, ids=[route for route, _ in OPERATIONS])
def test_the_operation_agrees_with_its_functions_comment(postgresql, route, operation):
    comment, arguments, callable_by_api = function(postgresql, answered_by(operation))
    assert callable_by_api, f"{route}: carepg_api may not call {answered_by(operation)}"
    text = json.dumps(operation)

    errors_line = next(line for line in comment.splitlines() if "Errors:" in line)
    for code in re.findall(r"\bCP\d{3}\b", errors_line):
        status = str(errors.SQLSTATE_ERRORS[code].http_status)
        assert status in operation["responses"], f"{route}: {code} ({status}) is not a documented response"
    for listed in re.findall(r"\((?:DETAIL )?([a-z_]+(?:, [a-z_]+)*)\)", errors_line):
        for reason in listed.split(", "):
            assert reason in text, f"{route}: the refusal reason {reason!r} is not in openapi.json"

    parameters = {p["name"]: p for p in operation.get("parameters", [])}
    stated = bounds(comment, arguments)
    for same in re.findall(r"(shifts\.\w+)\(\) \(same arguments", comment):  # "One page of shifts.f() (same arguments..."
        stated += bounds(*function(postgresql, same)[:2])
    for low, high, argument in stated:
        parameter = parameters.get(PARAMETER_OF_ARGUMENT.get(argument, argument))
        if parameter is None:
            continue  # an argument the operation does not expose (its own default holds)
        schema = parameter["schema"]
        assert (schema.get("minimum"), schema.get("maximum")) == (low, high), f"{route}: {parameter['name']}"
    for days in re.findall(r"at most (\d+) days", comment):
        assert f"at most {days} days" in text, f"{route}: the window's limit ({days} days) is not in openapi.json"


def bounds(comment: str, arguments: list[str]) -> list[tuple[int, int, str]]:
    """Each "low..high" of the COMMENT with the argument named last before it in the same sentence."""
    found = []
    for match in re.finditer(r"(\d+)\.\.(\d+)", comment):
        sentence = re.split(r"[.;]\s", comment[: match.start()])[-1]
        named = [(m.start(), a) for a in arguments for m in re.finditer(rf"\b{a}\b", sentence)]
        if named:
            found.append((int(match.group(1)), int(match.group(2)), max(named)[1]))
    return found


def test_bounds_are_read_the_way_the_comments_write_them():
    assert bounds("Keyset paging: pass (after_start, after_id). max_rows: 1..1000.", ["after_id", "max_rows"]) == [
        (1, 1000, "max_rows")]  # fmt: skip
    assert bounds("the first per_day of them (1..100), one row per shift", ["day", "start_to", "per_day"]) == [
        (1, 100, "per_day")]  # fmt: skip
    assert bounds("Locks (1667330661, 2) in order", ["worker_id"]) == []
