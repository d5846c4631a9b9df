"""Property-based fuzzing of the running API from its own description (cli/carepg/web/openapi.json).

schemathesis generates requests from every operation in the document, valid and invalid, sends them over
real HTTP to `carepg serve`, and checks each answer: never a 5xx, a documented status, the documented content
type and headers, a body that matches the documented schema. So the document is kept true by this test.
Examples are bounded (and derandomized) so the suite stays fast and repeatable. The API claims and releases for
real, so the fuzzer gets a server and database of its own (web_fixtures.fuzz_server), never the shared one.
It sends a staff token (valid for every worker id it makes up); its `ignored_auth` check then sends the same
request without a token and with a made-up one, and fails unless those are refused.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from carepg.web.app import OPENAPI
from web_fixtures import Server, token

# The event stream answers 200 and never ends, which a request-and-check fuzzer cannot wait for: its refusals, and
# ten thousand junk Last-Event-IDs, are tests/test_web_events.py's.
schema = schemathesis.openapi.from_path(OPENAPI).exclude(operation_id="followWorkerShifts")


@schema.parametrize()
@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_conforms_to_its_description_and_never_answers_5xx(case, fuzz_server: Server):
    # Not every schema-valid request can succeed: `from` after `to`, a cursor we did not issue, a shift someone
    # holds are valid and still a 400 or a 409. Every other check (5xx, statuses, content types, headers, bodies)
    # applies.
    case.call_and_validate(base_url=fuzz_server.base_url, headers={"Authorization": f"Bearer {STAFF_TOKEN}"},
                           excluded_checks=[positive_data_acceptance])  # fmt: skip


STAFF_TOKEN = token(staff=True, ttl=6 * 3600)
