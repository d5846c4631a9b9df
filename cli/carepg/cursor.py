"""Opaque keyset cursors: the (start, shift_id) of the last row of a page, as one URL-safe token."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json

from .errors import InvalidInput


def encode(start: dt.datetime, shift_id: int) -> str:
    raw = json.dumps([start.isoformat(), shift_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode(token: str) -> tuple[dt.datetime, int]:
    """The (start, shift_id) in a cursor; InvalidInput for anything that is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        start, shift_id = json.loads(raw)
        if not isinstance(shift_id, int) or isinstance(shift_id, bool) or not -(2**31) <= shift_id < 2**31:
            raise ValueError
        return dt.datetime.fromisoformat(start), shift_id
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput(
            f"invalid cursor {token[:40]!r}: pass the next_cursor value of a previous page unchanged"
        ) from None
