#!/usr/bin/env bash
# HTTP throughput: `carepg serve` beside the yardsticks (bench/yardstick*.py), wrk on loopback, the challenge data.
# Usage: bench/http.sh [bench/httpbench.py options: --seconds 15 --runs 5 --workers 2 --threads 4]
# Writes bench/results/http.md (and .json). Run it alone on the machine: `flock /tmp/carepg-bench.lock make bench-http`.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null; then
  echo "wrk is not installed: apt-get install wrk (Debian's wrk 4.x)" >&2
  exit 1
fi
exec .venv/bin/python bench/httpbench.py "$@"
