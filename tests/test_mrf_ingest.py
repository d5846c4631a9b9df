"""carepg mrf: ingest generated tables of contents and compare the answers with the generator's ground truth."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from carepg.cli import app
from carepg.mrf import ingest as ingest_mod
from carepg.mrf import collector as collector_mod
from carepg.mrf.collector import Collector, file_key
from carepg.mrf.parse import Parser
from carepg.mrf.generate import Truth, generate

pytestmark = pytest.mark.fast

runner = CliRunner()


@pytest.fixture(scope="module")
def canonical(tmp_path_factory) -> tuple[Path, Truth]:
    out = tmp_path_factory.mktemp("toc") / "anthem.json.gz"
    return out, generate(out, raw_bytes=400_000, seed=11)


def cli(monkeypatch, db_url: str, *args: str):
    monkeypatch.setenv("DATABASE_URL", db_url)
    return runner.invoke(app, ["mrf", *args])


def answer(postgresql, state="NY", plan_type="PPO", issuer=None) -> list[str]:
    rows = postgresql.execute(
        "SELECT url FROM mrf.network_files(%s, %s, %s)", (state, plan_type, issuer)
    ).fetchall()
    return [r[0] for r in rows]


def test_ingest_and_files_match_ground_truth(monkeypatch, db_url, postgresql, canonical):
    path, truth = canonical
    result = cli(monkeypatch, db_url, "ingest", "--quiet", str(path))
    assert result.exit_code == 0, result.output
    assert "ingested Anthem Inc" in result.output
    # Before any EIN lookup: plan names alone decide the plan type.
    for state, plan_type in [("NY", "PPO"), ("NY", "EPO"), ("NY", "POS"), ("NY", "HMO"), ("CA", "PPO"), ("VA", "PPO"),
                             ("TN", "PPO")]:
        assert answer(postgresql, state, plan_type) == truth.expected(state, plan_type, with_lookup=False), (state, plan_type)
    result = cli(monkeypatch, db_url, "lookup", *truth.lookup_documents)
    assert result.exit_code == 0, result.output
    for state, plan_type in [("NY", "PPO"), ("NY", "EPO"), ("NY", "FFS"), ("CA", "PPO"), ("CT", "EPO")]:
        assert answer(postgresql, state, plan_type) == truth.expected(state, plan_type), (state, plan_type)
    # The command prints exactly the function's answer, one URL per line.
    result = cli(monkeypatch, db_url, "files", "--state", "NY", "--plan-type", "PPO")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == truth.expected("NY", "PPO")


def test_answer_excludes_other_blue_plans_and_epo_only_files(postgresql, db_url, canonical):
    path, truth = canonical
    summary = ingest_mod.ingest(db_url, str(path), use_thread=False)
    # The gzip reader reads the file itself: the counts still cover every byte, compressed and not.
    assert summary.bytes_read == path.stat().st_size
    assert summary.raw_bytes == len(gzip.decompress(path.read_bytes()))
    ny_ppo = answer(postgresql)
    assert ny_ppo, "the generated index has Anthem NY PPO files"
    keys = " ".join(ny_ppo)
    assert "_301_" not in keys and "_800_" not in keys and "_302_" not in keys  # Highmark, Excellus
    assert "NY_HPN1MEDNY00" not in keys  # EPO only
    assert "NY_HXNWMED0000" in keys  # shared by PPO and EPO plans
    assert "anthem/NY_HXNWMED0000" in " ".join(answer(postgresql, "NY", "EPO"))
    # With issuer '*', other Blue plans' NY PPO networks appear too; 'highmark' selects them.
    highmark = answer(postgresql, "NY", "PPO", "highmark")
    assert highmark and all(("_301_" in u or "_800_" in u) for u in highmark)
    assert set(answer(postgresql, "NY", "PPO", "*")) == set(truth.expected("NY", "PPO", with_lookup=False, own=False))
    # One row per distinct file even though hub files come from many hosts.
    assert len(ny_ppo) == len({u.split("?")[0].split("/", 3)[3] for u in ny_ppo})


def test_classification_evidence_is_queryable(postgresql, db_url, canonical):
    path, _ = canonical
    ingest_mod.ingest(db_url, str(path), use_thread=False)
    row = postgresql.execute(
        "SELECT state, state_evidence, issuer, own_file, plan_types, plan_type_evidence, variants"
        " FROM mrf.file_class WHERE file_key LIKE '%%_301_71A0_%%' LIMIT 1"
    ).fetchone()
    state, state_evidence, issuer, own, plan_types, evidence, variants = row
    assert state == "NY" and "301" in state_evidence
    assert issuer == "Highmark BCBS Western NY" and own is False
    assert "PPO" in plan_types and any("ANTHEM PPO" in e for e in evidence)
    assert variants >= 1


def test_progress_mode_and_multi_member_gzip(monkeypatch, db_url, postgresql, tmp_path, canonical):
    """Without --quiet on a non-terminal: no bar, only the summary line; concatenated gzip members are one stream."""
    path, truth = canonical
    raw = gzip.decompress(path.read_bytes())
    split = len(raw) // 3
    members = tmp_path / "members.json.gz"
    members.write_bytes(gzip.compress(raw[:split]) + gzip.compress(raw[split:]))
    result = cli(monkeypatch, db_url, "ingest", str(members))
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1].startswith("ingested Anthem Inc")
    assert answer(postgresql) == truth.expected("NY", "PPO", with_lookup=False)
    runs = cli(monkeypatch, db_url, "runs")
    assert runs.exit_code == 0 and "succeeded" in runs.output


def test_files_output_file_and_issuer_option(monkeypatch, db_url, tmp_path, canonical):
    path, truth = canonical
    assert cli(monkeypatch, db_url, "ingest", "-q", str(path)).exit_code == 0
    target = tmp_path / "ny_ppo.txt"
    result = cli(monkeypatch, db_url, "files", "--state", "ny", "--plan-type", "ppo", "--output", str(target))
    assert result.exit_code == 0, result.output
    assert target.read_text().splitlines() == truth.expected("NY", "PPO", with_lookup=False)
    result = cli(monkeypatch, db_url, "files", "--state", "NY", "--plan-type", "PPO", "--issuer", "excellus")
    assert result.exit_code == 0 and result.output.splitlines() and all("_302_" in u for u in result.output.splitlines())


def test_files_without_description_and_numeric_plan_ids(db_url, postgresql, tmp_path):
    """Schema-valid oddities: a file entry without description keeps the file (the payer's own); plan_id as a number."""
    doc = {
        "reporting_entity_name": "Tiny Payer",
        "reporting_entity_type": "health insurance issuer",
        "reporting_structure": [
            {"reporting_plans": [{"plan_name": "TINY PPO - ACME - TINY", "plan_id_type": "EIN", "plan_id": 123456789,
                                  "plan_market_type": "GROUP"}],
             "in_network_files": [{"location": "https://files.example.com/tiny/NY_TINYMED0001.json.gz?sig=1"}]},
        ],
    }
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(doc))
    summary = ingest_mod.ingest(db_url, str(path), use_thread=False)
    assert (summary.structures, summary.plans, summary.distinct_files) == (1, 1, 1)
    assert answer(postgresql) == ["https://files.example.com/tiny/NY_TINYMED0001.json.gz?sig=1"]
    assert answer(postgresql, issuer="tiny") == answer(postgresql)
    row = postgresql.execute("SELECT plan_id, plan_id_type, plan_market_type FROM mrf_private.plan").fetchone()
    assert row == ("123456789", "ein", "group")


def test_migration_0020_downgrades_and_upgrades(empty_db_url):
    """The mrf schema comes and goes with its revision (reference rows included)."""
    import psycopg

    from carepg import migrations

    migrations.upgrade(empty_db_url)
    with psycopg.connect(empty_db_url) as conn:
        assert conn.execute("SELECT state FROM mrf.bcbs_plan_code WHERE code = '254'").fetchone() == ("NY",)
        uncommented = conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'mrf' AND c.relkind IN ('r', 'v') AND obj_description(c.oid, 'pg_class') IS NULL"
        ).fetchall()
        assert uncommented == []
        functions = conn.execute(
            "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = 'mrf' AND obj_description(p.oid, 'pg_proc') IS NULL"
        ).fetchall()
        assert functions == []
    migrations.downgrade(empty_db_url, "0004")
    with psycopg.connect(empty_db_url) as conn:
        assert conn.execute("SELECT to_regnamespace('mrf')").fetchone() == (None,)
    migrations.upgrade(empty_db_url)
    assert migrations.current(empty_db_url) == migrations.head()


def test_plan_entries_stored_as_listed_and_replaced_run_removed(db_url, postgresql, canonical):
    """Every reporting_plans entry is one plan_entry row; the views count distinct plans; a replaced run leaves
    nothing behind."""
    path, _ = canonical
    document = json.loads(gzip.decompress(path.read_bytes()))
    entries = [(plan, frozenset(file_key(f["location"]) for f in s.get("in_network_files", [])
                                + ([s["allowed_amount_file"]] if "allowed_amount_file" in s else [])))
               for s in document["reporting_structure"] for plan in s["reporting_plans"]]
    distinct_plans = {tuple(sorted(plan.items())) for plan, _ in entries}
    first = ingest_mod.ingest(db_url, str(path))
    second = ingest_mod.ingest(db_url, str(path))
    assert second.replaced_run_id == first.run_id
    assert second.plan_links == len(entries) and second.plans == len(distinct_plans)
    count = lambda sql, run: postgresql.execute(sql, (run,)).fetchone()[0]  # noqa: E731
    assert count("SELECT count(*) FROM mrf_private.plan_entry WHERE run_id = %s", second.run_id) == len(entries)
    assert count("SELECT count(*) FROM mrf_private.plan WHERE run_id = %s", second.run_id) == len(distinct_plans)
    assert count("SELECT count(*) FROM mrf_private.plan_file_set WHERE run_id = %s", second.run_id) == len(
        {(tuple(sorted(plan.items())), files) for plan, files in entries})
    for table in ("plan_entry", "file_plan_type", "file_set", "file"):
        assert count(f"SELECT count(*) FROM mrf_private.{table} WHERE run_id = %s", first.run_id) == 0, table


def test_tallies_past_their_caps_publish_the_same(monkeypatch, db_url, postgresql, canonical):
    """Publishing takes the distinct plans and the plan-type evidence from the ingest's tallies; past their caps it
    derives them from the stored entries: the same run either way."""
    path, _ = canonical

    def published(summary) -> tuple:
        evidence = postgresql.execute(
            "SELECT f.file_key, t.plan_type, t.plans, t.example_plan FROM mrf_private.file_plan_type t"
            " JOIN mrf_private.file f USING (run_id, file_id) WHERE t.run_id = %s ORDER BY 1, 2",
            (summary.run_id,),
        ).fetchall()
        recorded = postgresql.execute("SELECT plans FROM mrf_private.ingest_run WHERE run_id = %s",
                                      (summary.run_id,)).fetchone()[0]
        return summary.plans, recorded, evidence

    tallied = published(ingest_mod.ingest(db_url, str(path)))
    monkeypatch.setattr(collector_mod, "MAX_TALLIED_PLANS", 0)
    monkeypatch.setattr(collector_mod, "MAX_PRODUCT_GROUPS", 0)
    derived = published(ingest_mod.ingest(db_url, str(path)))
    assert tallied == derived
    assert tallied[2] and tallied[0] == tallied[1] > 0


def test_an_index_of_ordinary_size_is_tallied_while_streaming(canonical):
    path, _ = canonical
    collector = Collector(plan_sink=lambda row: None)
    Parser(collector).run(iter([gzip.decompress(path.read_bytes())]))
    assert collector.distinct_plans() == len(collector.plan_keys) > 0
    assert collector.product_groups() is not None


@pytest.mark.parametrize("cap", ["MAX_PRODUCT_GROUPS", "MAX_TALLIED_TEXT"])
def test_the_tallies_give_up_past_their_caps_in_entries_and_in_text(monkeypatch, cap):
    """Distinct products and long names (a name may be megabytes) cannot grow the tallies without bound."""
    monkeypatch.setattr(collector_mod, cap, 1_000)
    collector = Collector(plan_sink=lambda row: None)
    width = 1 if cap == "MAX_PRODUCT_GROUPS" else 400
    for i in range(10):
        for j in range(200 if cap == "MAX_PRODUCT_GROUPS" else 1):
            plan = (f"{i:0{width}d}{j} PPO - NY", "ein", "1", "group", "Anthem", "Acme")
            collector.emit([plan], collector.set_id({1}))
        if collector.product_groups() is None:
            break
    assert collector.product_groups() is None and collector.distinct_plans() is not None
