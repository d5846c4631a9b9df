"""`carepg claim`, `carepg release` and `carepg claims`: one line of outcome, exit codes from the error map."""

from __future__ import annotations

import json

import psycopg
import pytest

from carepg.errors import Conflict, Forbidden, InvalidInput, NotFound
from test_cli import cli, one_line_error, postgresql, seeded  # noqa: F401  (fixtures: the seeded clone)

pytestmark = pytest.mark.fast


def first_available(db_url, worker=101, n=0) -> int:
    with psycopg.connect(db_url) as conn:
        return conn.execute("SELECT shift_id FROM shifts.available_shifts(%s, max_rows => %s) OFFSET %s",
                            (worker, n + 1, n)).fetchone()[0]  # fmt: skip


def test_claim_then_claim_again_then_release(cli, seeded, db_url):  # noqa: F811
    shift = first_available(db_url)
    result = cli("claim", "101", str(shift))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"worker 101 claimed shift {shift}: 2023-") and result.stdout.count("\n") == 1
    again = cli("claim", "101", str(shift))
    assert again.exit_code == 0 and again.stdout.startswith(f"worker 101 already holds shift {shift}: ")
    assert str(shift) not in cli("shifts", "101", "--limit", "5").stdout

    taken = cli("claim", "102", str(shift))
    assert taken.exit_code == Conflict.exit_code
    assert one_line_error(taken) == (f"error: shift {shift} is taken by another worker "
                                     "(`carepg shifts 102` lists the shifts worker 102 may take)")  # fmt: skip

    released = cli("release", "101", str(shift))
    assert released.exit_code == 0 and released.stdout == f"worker 101 released shift {shift}\n"
    gone = cli("release", "101", str(shift))
    assert gone.exit_code == NotFound.exit_code and "does not hold" in one_line_error(gone)


def test_refusals_say_which_rule(cli, seeded, db_url):  # noqa: F811
    with psycopg.connect(db_url) as conn:
        inactive = conn.execute(
            """SELECT s.id FROM "Shift" s JOIN "Facility" f ON f.id = s.facility_id
               WHERE NOT f.is_active AND s.profession = 'CNA' AND s.worker_id IS NULL AND NOT s.is_deleted
               LIMIT 1""").fetchone()[0]  # fmt: skip
    forbidden = cli("claim", "101", str(inactive))
    assert forbidden.exit_code == Forbidden.exit_code == 8
    assert "is not active" in one_line_error(forbidden)
    first = first_available(db_url)
    assert cli("claim", "101", str(first)).exit_code == 0
    with psycopg.connect(db_url) as conn:  # an hour later at the same facility
        overlapping = conn.execute(
            """INSERT INTO "Shift" (start, "end", profession, facility_id)
               SELECT start + interval '1 hour', "end" + interval '1 hour', profession, facility_id
               FROM "Shift" WHERE id = %s RETURNING id""", (first,)).fetchone()[0]
    overlap = cli("claim", "101", str(overlapping))
    assert overlap.exit_code == Conflict.exit_code
    assert f"overlaps shift {first}" in one_line_error(overlap) and "`carepg claims 101`" in overlap.stderr
    unknown = cli("claim", "101", "2000000000")
    assert unknown.exit_code == NotFound.exit_code and "does not exist" in one_line_error(unknown)
    for args in (("claim", "101", "0"), ("claim", "x", "1"), ("release", "101", "99999999999"), ("claim", "101")):
        result = cli(*args)  # not an id at all: a bad argument, exit code 7 like every other (errors.py)
        assert result.exit_code == InvalidInput.exit_code and one_line_error(result)


def test_claims_lists_and_pages(cli, seeded, db_url):  # noqa: F811
    assert cli("claims", "101").stdout == "worker 101 holds no shifts\n"
    held = []
    for day in range(1, 6):
        with psycopg.connect(db_url) as conn:
            shift = conn.execute("SELECT shift_id FROM shifts.available_shifts(101, start_from => %s, max_rows => 1)",
                                 (f"2023-02-{day:02d}",)).fetchone()[0]  # fmt: skip
        assert cli("claim", "101", str(shift)).exit_code == 0
        held.append(shift)
    table = cli("claims", "101", "--limit", "2")
    lines = table.stdout.strip().splitlines()
    assert lines[0].split()[:2] == ["shift", "start"] and lines[-1].startswith("next page: --after ")
    seen, after = [], None
    while True:
        page = json.loads(cli("claims", "101", "--json", "--limit", "2", *(["--after", after] if after else [])).stdout)
        seen += [s["id"] for s in page["shifts"]]
        after = page["next_cursor"]
        if after is None:
            break
    assert seen == held
    window = json.loads(cli("claims", "101", "--json", "--from", "2023-02-02", "--to", "2023-02-04").stdout)
    assert [s["id"] for s in window["shifts"]] == held[1:3]
    assert cli("claims", "101", "--from", "2030-01-01").stdout == "worker 101 holds no shifts in this window\n"
    assert cli("claims", "2000000000").exit_code == NotFound.exit_code
    assert "invalid cursor" in one_line_error(cli("claims", "101", "--after", "nope"))
