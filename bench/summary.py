"""The summary table PERFORMANCE.md opens with, from bench/results/*.json (one column per run).

    .venv/bin/python bench/summary.py
"""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def fmt(value, spec: str, unit: str = "") -> str:
    return "skipped" if value is None else f"{value:{spec}}{unit}"


def main() -> None:
    runs = [json.loads(p.read_text()) for p in RESULTS.glob("*.json")]
    runs.sort(key=lambda r: (r["profile"] != "challenge", r["shifts"]))
    head = [f"{r['profile']} {r['shifts'] / 1e6:g}M" for r in runs]
    rows = [
        ("report", lambda r: f"[{r['profile']}-{r['shifts']}.md](bench/results/{r['profile']}-{r['shifts']}.md)"),
        ("measured worker (available shifts)", lambda r: f"{r['worker']['worker']} ({r['worker']['total']:,})"),
        ("first page p50 / p99 (function)", lambda r: f"{r['pages']['first']['function']['p50']:.3f} / "
         f"{r['pages']['first']['function']['p99']:.3f} ms"),
        ("first page p50 (naive)", lambda r: fmt(r["pages"]["first"]["naive"] and
                                                   r["pages"]["first"]["naive"]["p50"], ",.0f", " ms")),
        ("first page speed-up (p50)", lambda r: fmt(r["pages"]["first"]["ratio_p50"], ",.0f", "x")),
        ("deep page p50 / p99 (function)", lambda r: f"{r['pages']['deep']['function']['p50']:.3f} / "
         f"{r['pages']['deep']['function']['p99']:.3f} ms"),
        ("deep page speed-up (p50)", lambda r: fmt(r["pages"]["deep"]["ratio_p50"], ",.0f", "x")),
        ("whole answer: rows", lambda r: f"{r['whole']['rows']:,}"),
        ("whole answer: function / naive", lambda r: f"{r['whole']['function_s']:.3f} / "
         f"{fmt(r['whole']['naive_s'], '.3f')} s"),
        ("whole answer speed-up (database work only)", lambda r: f"{fmt(r['whole']['ratio'], '.1f', 'x')} "
         f"({fmt(r['whole'].get('db_ratio'), '.1f', 'x')})"),
        ("one document change p50 / p99", lambda r: f"{r['maintenance']['carepg']['p50']:.2f} / "
         f"{r['maintenance']['carepg']['p99']:.2f} ms"),
        ("  same statements without triggers p50 / p99", lambda r: f"{r['maintenance']['no triggers (naive twin)']['p50']:.2f}"
         f" / {r['maintenance']['no triggers (naive twin)']['p99']:.2f} ms"),
        ("view rows", lambda r: f"{r['refresh']['view_rows']:,}"),
        ("refresh full / concurrent", lambda r: f"{r['refresh']['full_s']:.2f} / {r['refresh']['concurrent_s']:.2f} s"),
        ("reader p99 idle / during concurrent refresh", lambda r: f"{r['refresh']['reader_baseline']['p99']:.2f} / "
         f"{r['refresh']['reader_during']['p99']:.2f} ms"),
        ("seed", lambda r: f"{r['seed'].get('seed_s', '?')} s"),
        ("database size", lambda r: f"{r['sizes']['database_bytes'] / 2**20:,.0f} MB"),
        ("peak RSS of a server process", lambda r: f"{r['memory'].get('max_hwm_kb', 0) / 1024:,.0f} MB"),
        ("load average at start", lambda r: " ".join(r["machine"]["loadavg_at_start"])),
    ]
    print("| | " + " | ".join(head) + " |")
    print("|---|" + "---:|" * len(runs))
    for name, get in rows:
        print(f"| {name} | " + " | ".join(get(r) for r in runs) + " |")


if __name__ == "__main__":
    main()
