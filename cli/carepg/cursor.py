"""Opaque keyset cursors: the (start, shift_id) of the last row of a page, as one URL-safe token.

A token is the base64url (no padding) of the JSON array `["2023-02-10T05:00:00.001000",501295]`; the SQL that
builds the HTTP API's page (sql/shifts/available_shifts_json.sql) writes the same bytes. Decoding accepts any
input and raises nothing but InvalidInput: the token is bounded and checked against the alphabet before it is
decoded, and what it decodes to is checked before it is parsed.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re

from .errors import InvalidInput

# Ours are at most 56 characters (a 6-digit fraction and a 10-digit negative id); leave room for other spellings
# of the same position (a space after the comma, a shorter timestamp).
MAX_TOKEN = 128
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,%d}" % MAX_TOKEN)
# The decoded token: a two-element array of one plain string and one integer, nothing nested; around them only
# what JSON calls whitespace (regex's \s also takes form feeds and the like, which json.loads refuses).
_ARRAY = re.compile(r'[ \t\n\r]*\[[ \t\n\r]*"[0-9T:. -]{1,32}"[ \t\n\r]*,[ \t\n\r]*-?[0-9]{1,10}[ \t\n\r]*\][ \t\n\r]*')


def encode(start: dt.datetime, shift_id: int) -> str:
    raw = json.dumps([start.isoformat(), shift_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode(token: str) -> tuple[dt.datetime, int]:
    """The (start, shift_id) in a cursor; InvalidInput for anything that is not one of ours."""
    if isinstance(token, str) and _TOKEN.fullmatch(token):
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
        except (ValueError, binascii.Error):  # UnicodeDecodeError is a ValueError
            raw = ""
        if _ARRAY.fullmatch(raw):
            start, shift_id = json.loads(raw)
            try:
                parsed = dt.datetime.fromisoformat(start)
            except ValueError:
                parsed = None
            if parsed is not None and parsed.tzinfo is None and -(2**31) <= shift_id < 2**31:
                return parsed, shift_id
    shown = token[:40] if isinstance(token, str) else type(token).__name__
    raise InvalidInput(f"invalid cursor {shown!r}: pass the next_cursor value of a previous page unchanged")
