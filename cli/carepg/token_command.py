"""`carepg token`: a bearer token for the HTTP API, signed with the configured secret (auth.py has the rules).

PyJWT is imported when the command runs, not when `carepg` starts.
"""

from __future__ import annotations

from typing import Annotated

import typer

from .console import handles_errors, say, warn
from .errors import InvalidInput

INT32_MAX = 2**31 - 1


@handles_errors
def token(
    worker_id: Annotated[
        int | None, typer.Argument(min=1, max=INT32_MAX, metavar="[WORKER]", help="The worker the token acts for.")
    ] = None,
    staff: Annotated[bool, typer.Option("--staff", help="A staff token instead: it acts for any worker.")] = False,
    ttl: Annotated[str, typer.Option("--ttl", help="How long it is valid: seconds, or e.g. 15m, 8h, 7d.")] = "1h",
) -> None:
    """Print a bearer token for `carepg serve` (Authorization: Bearer <token>), signed with CAREPG_JWT_SECRET or
    CAREPG_JWT_SECRET_FILE; with neither set, with this machine's development secret."""
    from . import auth, cluster

    if (worker_id is None) != staff:
        raise InvalidInput("give a WORKER (a token that acts for that worker) or --staff (one that acts for any "
                           "worker), not both or neither")  # fmt: skip
    seconds = auth.parse_ttl(ttl)
    config = auth.configured()
    if config is None:
        config = auth.development_secret(cluster.default_home(), create=True)
        assert config is not None  # just made
        warn(f"note: {auth.SECRET_ENV} is not set: signed with the development secret {config.source}, which "
             "`carepg serve` uses on a loopback address")  # fmt: skip
    minted = auth.mint(config, worker_id=worker_id, staff=staff, ttl_seconds=seconds)
    say(minted)
    who = "staff (any worker)" if staff else f"worker {worker_id}"
    warn(f"token for {who}, valid until {auth.expiry_text(minted)}")
