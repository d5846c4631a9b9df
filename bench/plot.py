"""How cost grows with the data: page latency and whole-answer time vs number of shifts (large profile).

    .venv/bin/python bench/plot.py    # reads bench/results/large-*.json, writes bench/results/growth.png
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    runs = sorted((json.loads(p.read_text()) for p in RESULTS.glob("large-*.json")), key=lambda r: r["shifts"])
    if not runs:
        raise SystemExit("no bench/results/large-*.json: run `make bench-large` first")
    x = [r["shifts"] for r in runs]
    fig, (pages, whole) = plt.subplots(1, 2, figsize=(11, 4.2))
    for side, style in (("function", "o-"), ("naive", "s--")):
        for page, colour in (("first", "tab:blue"), ("deep", "tab:orange")):
            have = [r for r in runs if r["pages"][page][side]]  # the naive side may be skipped (--skip-naive)
            pages.plot([r["shifts"] for r in have], [r["pages"][page][side]["p50"] for r in have], style,
                       color=colour, label=f"{side}, {page} page (p50)")
    pages.set(xscale="log", yscale="log", xlabel="shifts", ylabel="ms per 50-row page",
              title="Page latency (pgbench -M prepared)")
    pages.legend(fontsize=8)
    whole.plot(x, [r["whole"]["function_s"] for r in runs], "o-", label="function (keyset pages of 1000)")
    have = [r for r in runs if r["whole"]["naive_s"]]
    whole.plot([r["shifts"] for r in have], [r["whole"]["naive_s"] for r in have], "s--", label="naive query")
    for r in runs:
        whole.annotate(f"{r['whole']['rows']:,} rows", (r["shifts"], r["whole"]["function_s"]), fontsize=7,
                       textcoords="offset points", xytext=(4, -10))
    whole.set(xscale="log", yscale="log", xlabel="shifts", ylabel="seconds",
              title="Whole answer for one typical worker (COPY)")
    whole.legend(fontsize=8)
    for ax in (pages, whole):
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle("carepg, profile large: cost vs data size (bench/bench.py, bench/plot.py)", fontsize=10)
    fig.tight_layout()
    out = RESULTS / "growth.png"
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
