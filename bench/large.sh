#!/usr/bin/env bash
# The large profile at three sizes, each in its own database of the same server (carepg's local cluster, or
# the server of DATABASE_URL), then the growth plot. Usage: bench/large.sh [SHIFTS ...] (default 200000
# 2000000 20000000). Each size seeds once (kept across runs: the database comment records profile and size).
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(200000 2000000 20000000)
base=${DATABASE_URL:-$(.venv/bin/carepg db url)}
admin=$(echo "$base" | sed -E 's#(postgresql://[^/]*/)[^?]*#\1postgres#')
for n in "${sizes[@]}"; do
  case $n in 200000) db=large_200k ;; 2000000) db=large_2m ;; 20000000) db=large_20m ;; *) db="large_$n" ;; esac
  psql "$admin" -Atqc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1 || psql "$admin" -qc "CREATE DATABASE $db"
  url=$(echo "$base" | sed -E "s#(postgresql://[^/]*/)[^?]*#\1$db#")
  naive_tx=5; runs=3; [ "$n" -ge 1000000 ] && naive_tx=3; [ "$n" -ge 10000000 ] && { naive_tx=1; runs=1; }
  DATABASE_URL="$url" .venv/bin/python bench/bench.py --profile large --shifts "$n" --seconds 10 \
    --naive-tx "$naive_tx" --changes 300 --runs "$runs"
done
.venv/bin/python bench/plot.py
