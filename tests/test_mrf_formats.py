"""Every valid layout of the same table of contents gives the same answer (and the same counts)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from carepg.mrf import ingest as ingest_mod
from carepg.mrf.generate import STYLES, generate
from carepg.mrf import collector as collector_mod
from carepg.mrf.collector import Collector
from carepg.mrf.parse import Parser
from carepg.errors import BadInput, InvalidInput

QUESTIONS = [("NY", "PPO"), ("NY", "EPO"), ("NY", "POS"), ("CA", "PPO"), ("VA", "PPO"), ("TN", "PPO")]


def parse_bytes(data: bytes, chunk: int = 1 << 16) -> tuple[Collector, Parser, list[tuple]]:
    structures: list[tuple] = []
    collector = Collector(plan_sink=structures.append)
    parser = Parser(collector)
    parser.run(data[i : i + chunk] for i in range(0, len(data), chunk))
    rows = [(0, set_id, key, *fields) for set_id, keys, plans in structures for key, fields in zip(keys, plans)]
    return collector, parser, rows


def digest(collector: Collector, rows: list[tuple]) -> dict:
    """Layout-independent summary of what the parser read: the entity, files, file sets and plans."""
    sets = {frozenset(k for k, f in collector.files.items() if f.file_id in members): collector.set_uses[i - 1]
            for members, i in collector.sets.items()}
    return {
        "entity": collector.entity.get("reporting_entity_name"),
        "files": {k: (f.url, tuple(f.descriptions), f.in_network, f.allowed_amount) for k, f in collector.files.items()},
        "sets": sets,
        "structures": collector.structures,
        "file_links": collector.file_links,
        "plans": sorted(r[3:] for r in rows),  # (run id, set id, plan key) are run-internal
    }


@pytest.mark.parametrize("style", [s for s in STYLES if s not in ("canonical",)])
def test_style_reads_like_canonical(tmp_path, style):
    """Same seed, another layout: the parsed content is identical (v1/upper-case styles: modulo those fields)."""
    base = tmp_path / "canonical.json"
    other = tmp_path / f"{style}.json"
    generate(base, raw_bytes=120_000, seed=5, style="canonical" if not STYLES[style].allowed_amount else "allowed")
    generate(other, raw_bytes=120_000, seed=5, style=style)
    a = digest(*_parsed(base))
    b = digest(*_parsed(other))
    if not STYLES[style].v2:
        a["plans"] = sorted(p[:4] for p in a["plans"])  # v1 has no issuer_name / plan_sponsor_name
        b["plans"] = sorted(p[:4] for p in b["plans"])
    assert a == b


def _parsed(path: Path):
    collector, parser, rows = parse_bytes(path.read_bytes())
    return collector, rows


def test_canonical_layout_stays_on_the_line_path(tmp_path):
    path = tmp_path / "toc.json"
    generate(path, raw_bytes=200_000, seed=3)
    collector, parser, _ = parse_bytes(path.read_bytes())
    assert parser.mode == "line"
    assert collector.raw_hits > 0  # repeated file lists were skipped without being decoded


@pytest.mark.parametrize("budget", [collector_mod.RAW_BUDGET, 0])
def test_repeated_file_lists_are_recognised_exactly_even_when_checksums_collide(tmp_path, monkeypatch, budget):
    """A key of the length alone puts every list of one length in one bucket: only the byte comparison (or,
    past the budget, the checksums) tells them apart, and the content must still equal the plain read's."""
    path = tmp_path / "toc.json"
    generate(path, raw_bytes=300_000, seed=3, variants=6)
    data = path.read_bytes()
    reference = digest(*_content(data, 1 << 20))
    monkeypatch.setattr(collector_mod, "list_key", lambda buf, start, end: (end - start, b""))
    monkeypatch.setattr(collector_mod, "RAW_BUDGET", budget)
    collector, _, rows = parse_bytes(data)
    assert digest(collector, rows) == reference
    assert collector.raw_hits > 0
    assert (collector.raw_stored > 0) == (budget > 0)
    # Same-length lists do share buckets here (the generator's variants differ in one host or signature).
    assert max(len(c) for c in collector.raw_lists.values()) > 1 or budget == 0


@pytest.mark.parametrize("style", ["pretty", "minified"])
def test_other_layouts_fall_back_to_ijson(tmp_path, style):
    path = tmp_path / "toc.json"
    generate(path, raw_bytes=100_000, seed=3, style=style)
    _, parser, _ = parse_bytes(path.read_bytes())
    assert parser.mode == "ijson"


@pytest.mark.parametrize("style", sorted(STYLES))
def test_every_style_gives_the_ground_truth_answer(postgresql, db_url, tmp_path, style):
    path = tmp_path / "toc.json.gz"
    truth = generate(path, raw_bytes=150_000, seed=9, style=style)
    ingest_mod.ingest(db_url, str(path), use_thread=style != "pretty")
    for doc in truth.lookup_documents:
        ingest_mod.load_lookup(db_url, doc)
    for state, plan_type in QUESTIONS:
        rows = postgresql.execute("SELECT url FROM mrf.network_files(%s, %s)", (state, plan_type)).fetchall()
        assert [r[0] for r in rows] == truth.expected(state, plan_type), (style, state, plan_type)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    chunk=st.integers(min_value=1, max_value=5000),
    cut=st.integers(min_value=0, max_value=10_000),
    style=st.sampled_from(["canonical", "spaced", "crlf", "escaped", "shuffled"]),
)
def test_chunk_boundaries_and_mid_document_fallback_do_not_change_the_content(tmp_path_factory, chunk, cut, style):
    """Property: any chunking, and a switch to ijson at any line (a pretty-printed structure spliced in), read
    the same content as the plain canonical read."""
    path = tmp_path_factory.mktemp("p") / "toc.json"
    generate(path, raw_bytes=30_000, seed=2, style=style)
    data = path.read_bytes()
    reference = digest(*_content(data, 1 << 20))
    assert digest(*_content(data, chunk)) == reference
    # Re-indent one structure line in the middle: from there on, the layout no longer holds.
    lines = data.split(b"\n")
    k = 1 + cut % max(len(lines) - 3, 1)
    if lines[k].rstrip(b"\r,").startswith(b"{"):
        body = lines[k].rstrip(b"\r")
        comma = body.endswith(b",")
        obj = json.loads(body.rstrip(b","))
        lines[k] = json.dumps(obj, indent=3).encode() + (b"," if comma else b"")
        spliced = b"\n".join(lines)
        collector, parser, rows = parse_bytes(spliced, chunk)
        assert digest(collector, rows) == reference
        assert parser.mode in ("ijson", "line+ijson")


def _content(data: bytes, chunk: int):
    collector, _, rows = parse_bytes(data, chunk)
    return collector, rows


def _toc_with(value: object, where: str, pad: int = 0) -> dict:
    """A small valid table of contents with `value` under an extra key at `where`."""
    plan = {"plan_name": "ANTHEM PPO - ACME - ANTHEM", "plan_id_type": "ein", "plan_id": "1",
            "plan_market_type": "group"}
    entry = {"description": "In-Network Negotiated Rates Files", "location": "https://x.example/anthem/NY_A.json.gz"}
    structure = {"reporting_plans": [plan], "in_network_files": [entry]}
    if pad:
        structure = {"pad": "x" * pad, **structure}  # a line longer than json.loads is given
    doc = {"reporting_entity_name": "Tiny", "reporting_structure": [structure]}
    if where == "allowed":
        structure["allowed_amount_file"] = dict(entry)
    target = {"top": doc, "structure": structure, "plan": plan, "file": entry,
              "allowed": structure.get("allowed_amount_file")}[where]
    target["extra"] = value
    return doc


def _layouts(doc: dict) -> dict[str, bytes]:
    head = {k: v for k, v in doc.items() if k != "reporting_structure"}
    lines = json.dumps({**head, "reporting_structure": []}, separators=(",", ":"))[:-2] + "\n"
    lines += ",\n".join(json.dumps(s, separators=(",", ":")) for s in doc["reporting_structure"]) + "\n]}\n"
    return {"lines": lines.encode(), "pretty": json.dumps(doc, indent=1).encode()}


# Containers around the extra key's value in each position (the top object counts as one).
AROUND = {"top": 1, "structure": 3, "allowed": 4, "plan": 5, "file": 5}


@pytest.mark.parametrize(("where", "pad"), [(w, 0) for w in sorted(AROUND)] + [(w, 2 << 20) for w in sorted(AROUND)
                                                                              if w != "top"])
def test_the_nesting_limit_is_the_same_on_every_path(where, pad):
    """A value nested exactly up to MAX_DEPTH passes, one level more is refused: on the line path (json.loads,
    or the event decoder for a line over LOADS_LIMIT) and on the general path alike."""
    from carepg.mrf.collector import MAX_DEPTH
    from carepg.errors import BadInput

    for depth, accepted in ((MAX_DEPTH - AROUND[where], True), (MAX_DEPTH - AROUND[where] + 1, False)):
        value: object = 1
        for _ in range(depth):
            value = [value]
        for layout, data in _layouts(_toc_with(value, where, pad)).items():
            if accepted:
                collector, parser, rows = parse_bytes(data)
                assert (collector.structures, len(rows)) == (1, 1), (where, layout, depth)
            else:
                with pytest.raises(BadInput, match=f"nested deeper than {MAX_DEPTH} levels"):
                    parse_bytes(data)


# Any text a plan field may hold, the characters the regex fast path must not misread included.
_FIELD_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",))
                      | st.sampled_from('"\\\t\n\r\x00/{}[],:'), max_size=12)
_FIELD_VALUE = _FIELD_TEXT | st.none() | st.integers(-10**6, 10**6) | st.booleans() | st.floats(allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(
    plans=st.lists(st.fixed_dictionaries({k: _FIELD_TEXT for k in collector_mod.PLAN_KEYS},
                                         optional={"extra": _FIELD_VALUE}), min_size=1, max_size=3),
    values=st.lists(st.tuples(st.sampled_from(collector_mod.PLAN_KEYS), _FIELD_VALUE), max_size=2),
    shuffle=st.randoms(use_true_random=False),
    ascii_only=st.booleans(),
)
def test_the_regex_fast_path_reads_plans_exactly_as_the_json_decoder(plans, values, shuffle, ascii_only):
    """Property: for any reporting_plans array, canonical_plans either declines (None) or returns what decoding
    the JSON and Collector.plan_fields give; it declines whatever is not in Anthem's exact form."""
    from carepg.mrf.parse import canonical_plans

    for key, value in values:  # a field that is not a string somewhere
        plans[0][key] = value
    if shuffle.random() < 0.2:  # keys in another order
        items = list(plans[-1].items())
        shuffle.shuffle(items)
        plans[-1] = dict(items)
    raw = json.dumps(plans, separators=(",", ":"), ensure_ascii=ascii_only).encode()
    collector = Collector(plan_sink=lambda structure: None)
    fast = canonical_plans(raw)
    try:
        decoded = [collector.plan_fields(plan) for plan in json.loads(raw)]
    except BadInput:  # e.g. a plan_name that is not text: the fast path must leave that to the decoder
        decoded = None
    assert fast is None or fast == decoded
    canonical_form = all(
        list(p) == list(collector_mod.PLAN_KEYS)
        and all(type(v) is str and not any(c in v for c in '"\\') and all(ord(c) >= 0x20 for c in v)
                and (not ascii_only or v.isascii()) for v in p.values())
        for p in plans
    )
    assert (fast is not None) == canonical_form, raw


def test_plan_fields_that_copy_text_must_escape_are_stored_as_read(postgresql, db_url, tmp_path):
    """Tabs, newlines, carriage returns and backslashes in plan fields, and fields that are NULL, numbers or
    booleans: the stored entries are the values the parser read."""
    odd = ["tab\there", "line\nbreak", "carriage\rreturn", "back\\slash", "\\N", "\\.", "quote\"s", "ünï ✓"]
    plans = [{"plan_name": f"ANTHEM PPO - {name}", "plan_id_type": "EIN", "plan_id": name, "plan_market_type": "group",
              "issuer_name": None if i % 2 else name, "plan_sponsor_name": [7, True, 1.5, name][i % 4]}
             for i, name in enumerate(odd)]
    path = tmp_path / "toc.json"
    path.write_text(json.dumps({"reporting_entity_name": "Odd Payer", "reporting_entity_type": "x", "version": "1",
                                "reporting_structure": [{"reporting_plans": [p], "in_network_files": [
                                    {"description": "d", "location": "https://h.example/NY_PPO.json.gz"}]}
                                    for p in plans]}))
    summary = ingest_mod.ingest(db_url, str(path))
    stored = postgresql.execute(
        "SELECT plan_name, plan_id_type, plan_id, plan_market_type, issuer_name, plan_sponsor_name"
        " FROM mrf_private.plan_entry WHERE run_id = %s", (summary.run_id,)).fetchall()
    collector = Collector(plan_sink=lambda structure: None)
    assert sorted(stored) == sorted(collector.plan_fields(p) for p in plans)


def test_a_nul_character_in_a_plan_field_is_refused_and_loads_nothing(postgresql, db_url, tmp_path):
    path = tmp_path / "toc.json"
    path.write_text(json.dumps({"reporting_entity_name": "Nul Payer", "reporting_structure": [
        {"reporting_plans": [{"plan_name": "A\u0000B", "plan_id_type": "ein", "plan_id": "1",
                              "plan_market_type": "group"}],
         "in_network_files": [{"description": "d", "location": "https://h.example/NY_PPO.json.gz"}]}]}))
    with pytest.raises(BadInput, match="NUL character"):
        ingest_mod.ingest(db_url, str(path))
    assert postgresql.execute("SELECT count(*) FROM mrf_private.plan_entry").fetchone() == (0,)
    assert postgresql.execute("SELECT status FROM mrf_private.ingest_run").fetchall() == [("failed",)]


def _with_escape(escape: str) -> str:
    """A canonical table of contents whose one plan name and one URL hold `escape`."""
    structure = ('{"reporting_plans":[{"plan_name":"A%sB","plan_id_type":"ein","plan_id":"1","plan_market_type":'
                 '"group","issuer_name":"i","plan_sponsor_name":"s"}],"in_network_files":[{"description":"d",'
                 '"location":"https://h.example/NY_%s.json.gz"}]}') % (escape, escape)
    return '{"reporting_entity_name":"Surrogates","reporting_structure":[\n%s\n]}\n' % structure


@pytest.mark.parametrize(("escape", "reads"), [("\\ud800", "?"), ("\\udbff", "?"), ("\\ud83d\\ude00", "\U0001f600")])
def test_a_lone_high_surrogate_reads_as_the_event_decoder_reads_it_and_is_stored(postgresql, db_url, tmp_path,
                                                                                escape, reads):
    """`"\\ud800"` is valid JSON but no character (nor text PostgreSQL can store): both parsers read a lone high
    surrogate as `?` (ijson's yajl does), in plans and URLs alike; a pair is the character it stands for."""
    lines = _with_escape(escape)
    pretty = json.dumps(json.loads(lines), indent=2)  # (dumps escapes a lone surrogate again)
    line_path, line_parser, line_rows = parse_bytes(lines.encode())
    event_path, event_parser, event_rows = parse_bytes(pretty.encode())
    assert (line_parser.mode, event_parser.mode) == ("line", "ijson")
    assert digest(line_path, line_rows) == digest(event_path, event_rows)
    assert line_rows[0][3] == f"A{reads}B"
    path = tmp_path / "toc.json"
    path.write_text(lines)
    summary = ingest_mod.ingest(db_url, str(path))
    assert postgresql.execute("SELECT plan_name FROM mrf_private.plan_entry WHERE run_id = %s",
                              (summary.run_id,)).fetchall() == [(f"A{reads}B",)]


@pytest.mark.parametrize("escape", ["\\udc00", "\\udfff", "\\ude00\\ud83d"])
@pytest.mark.parametrize("layout", ["lines", "pretty"])
def test_a_lone_low_surrogate_is_refused_in_one_line_on_every_path(postgresql, db_url, tmp_path, escape, layout):
    lines = _with_escape(escape)
    text = lines if layout == "lines" else json.dumps(json.loads(lines), indent=2)
    path = tmp_path / "toc.json"
    path.write_text(text)
    with pytest.raises(BadInput, match="lone surrogate") as info:
        ingest_mod.ingest(db_url, str(path))
    assert "\n" not in info.value.message and "decompressed bytes" in info.value.message
    assert postgresql.execute("SELECT count(*) FROM mrf_private.plan_entry").fetchone() == (0,)


def test_a_nul_in_the_payer_s_name_is_refused_not_cut_short(postgresql, db_url, tmp_path):
    """Parameters go to the server as C strings: one holding a NUL must be refused, never sent up to the NUL."""
    lines = _with_escape("x").replace('"Surrogates"', '"Nul\\u0000Payer"')
    path = tmp_path / "toc.json"
    path.write_text(lines)
    with pytest.raises(InvalidInput, match="NUL"):
        ingest_mod.ingest(db_url, str(path))
    assert postgresql.execute("SELECT count(*) FROM mrf_private.reporting_entity").fetchone() == (0,)
    assert postgresql.execute("SELECT status FROM mrf_private.ingest_run").fetchall() == [("failed",)]


_ESCAPE = st.sampled_from(["\\ud800", "\\udbff", "\\udc00", "\\udfff", "\\ud83d", "\\ude00", "\\u0041", "\\u00e9",
                           "\\n", "\\\\", "\\\"", "a", "?"])


@settings(max_examples=150, deadline=None)
@given(name=st.lists(_ESCAPE, min_size=1, max_size=6).map("".join), in_url=st.booleans())
def test_any_escapes_in_a_string_read_or_are_refused_in_one_line_on_both_paths(name, in_url):
    """Property: whatever escapes a plan name or URL holds (lone and paired surrogates among them), each layout
    reads it or refuses it as bad input in one line, never with another error; when the line path reads it, the
    text holds no surrogate (nothing PostgreSQL cannot store)."""
    lines = _with_escape(name if not in_url else "x").replace("NY_x", f"NY_{name}" if in_url else "NY_x")
    for text in (lines, json.dumps(json.loads(lines), indent=2)):
        try:
            collector, _, rows = parse_bytes(text.encode())
        except BadInput as exc:
            assert "\n" not in exc.message
            continue
        values = [r[3] for r in rows] + [f.url for f in collector.files.values()]
        assert not any(0xD800 <= ord(c) <= 0xDFFF for v in values for c in v), values


@settings(max_examples=300, deadline=None)
@given(first=st.one_of(st.text(), st.integers()), second=st.one_of(st.text(), st.integers()))
def test_a_second_payer_name_is_refused_in_one_line_and_a_repeated_one_is_not(first, second):
    """Any two reporting_entity_name values: the same one again reads as one payer, another one is refused in a
    line that names both (whatever they hold: newlines, quotes, megabytes are shortened)."""
    collector = Collector(plan_sink=lambda _: None)
    collector.top("reporting_entity_name", first)
    if str(first) == str(second):
        collector.top("reporting_entity_name", second)
        assert collector.entity["reporting_entity_name"] == str(first)
        return
    with pytest.raises(BadInput) as refused:
        collector.top("reporting_entity_name", second)
    message = str(refused.value)
    assert message.startswith("the table of contents names two payers") and "\n" not in message
    assert collector.entity["reporting_entity_name"] == str(first)
