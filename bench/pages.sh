#!/usr/bin/env bash
# Latency of shifts.available_shifts() for one worker: first page vs a deep page (keyset), via pgbench.
# Usage: bench/pages.sh [WORKER_ID] [SECONDS]   (runs against `carepg db url`, or DATABASE_URL)
# Prints TPS, mean, p50 and p99 per query. Needs a seeded database (`carepg demo` or `carepg seed`).
set -euo pipefail
cd "$(dirname "$0")/.."
worker=${1:-101}
seconds=${2:-10}
url=${DATABASE_URL:-$(.venv/bin/carepg db url)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The deep page starts after the 80th percentile of this worker's shifts.
deep=$(psql "$url" -Atc "SELECT start, shift_id FROM (SELECT start, shift_id, ntile(5) OVER (ORDER BY start, shift_id) AS q
       FROM shifts.available_shifts($worker, max_rows => 1000)) t LIMIT 0" >/dev/null;
       psql "$url" -Atc "WITH s AS (SELECT s.start, s.id FROM \"Shift\" s JOIN shifts.eligible_pair e ON e.facility_id = s.facility_id AND e.worker_id = $worker
       JOIN \"Worker\" w ON w.id = $worker WHERE s.profession = w.profession AND s.worker_id IS NULL AND NOT s.is_deleted)
       SELECT start || '|' || id FROM s ORDER BY start, id OFFSET (SELECT count(*) * 4 / 5 FROM s) LIMIT 1")
deep_start=${deep%|*}; deep_id=${deep#*|}
echo "SELECT * FROM shifts.available_shifts($worker, max_rows => 50);" > "$tmp/first.sql"
echo "SELECT * FROM shifts.available_shifts($worker, after_start => '$deep_start', after_id => $deep_id, max_rows => 50);" > "$tmp/deep.sql"
for q in first deep; do
  (cd "$tmp" && pgbench "$url" -n -M prepared -f "$tmp/$q.sql" -c 1 -T "$seconds" -l --log-prefix="$q" >/dev/null 2>&1)
  cat "$tmp"/$q.* | awk -v name="$q page (50 rows)" '{print $3}' | sort -n | awk -v name="$q page (50 rows)" -v secs="$seconds" '
    {v[NR]=$1; sum+=$1} END {printf "%-22s %8.0f tps  mean %.3f ms  p50 %.3f ms  p99 %.3f ms\n", name, NR/secs, sum/NR/1000, v[int(NR*0.5)]/1000, v[int(NR*0.99)]/1000}'
done
