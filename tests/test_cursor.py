"""Cursors (cli/carepg/cursor.py, shared by the CLI and the web app): any input decodes or is InvalidInput."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carepg import cursor
from carepg.errors import InvalidInput

pytestmark = pytest.mark.fast


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31)),
       st.integers(-(2**31), 2**31 - 1))  # fmt: skip
def test_every_position_round_trips(start, shift_id):
    token = cursor.encode(start, shift_id)
    assert len(token) <= cursor.MAX_TOKEN
    assert cursor.decode(token) == (start, shift_id)


hostile = st.one_of(
    st.text(max_size=300),
    st.binary(max_size=300).map(b64),
    st.recursive(st.just(b"1") | st.just(b'"2023-02-01T05:00:00"') | st.just(b"null"),
                 lambda inner: st.lists(inner, max_size=3).map(lambda xs: b"[" + b",".join(xs) + b"]"),
                 max_leaves=20).map(b64),  # fmt: skip
    st.integers(1, 20000).map(lambda n: b64(b"[" * n)),
    st.integers(1, 20000).map(lambda n: b64(b'["2023-02-01T05:00:00",' + b"[" * n + b"1" + b"]" * n + b"]")),
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(hostile)
def test_anything_else_is_invalid_input_and_nothing_else(token):
    try:
        start, shift_id = cursor.decode(token)
    except InvalidInput as err:
        assert len(err.message) < 200  # the token is echoed shortened
        return
    assert isinstance(start, dt.datetime) and start.tzinfo is None
    assert isinstance(shift_id, int) and -(2**31) <= shift_id < 2**31


@pytest.mark.parametrize("raw", [b"[" * 1000, b"[" * 100_000, b'["2023-02-01T05:00:00+05:00",5]',
                                 b'["2023-02-01T05:00:00",true]', b'["2023-02-01T05:00:00",1.5]',
                                 b'["2023-02-01T05:00:00",1,2]', b'["\\u0032023-02-01",1]',
                                 # whitespace that a regex's \s takes and JSON does not
                                 b'["2023-02-10T05:00:00.001000",501295]\x0c', b'\x0b["2023-02-10",1]',
                                 b'["2023-02-10"\x1c,1]'])  # fmt: skip
def test_nested_offset_and_odd_values_are_refused(raw):
    with pytest.raises(InvalidInput, match="invalid cursor"):
        cursor.decode(b64(raw))


def test_other_spellings_of_a_position_are_accepted():
    assert cursor.decode(b64(b'["2023-02-15T00:00:00", 7]')) == (dt.datetime(2023, 2, 15), 7)
    assert cursor.decode(b64(b'["2023-02-15",7]')) == (dt.datetime(2023, 2, 15), 7)
