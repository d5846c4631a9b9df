# The two commands a new user needs: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.carepg-installed
BENCH_STAMP := $(VENV)/.carepg-bench-installed

.PHONY: demo test test-fast schema migration clean bench bench-large bench-http bench-mrf bench-cli

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	# An editable install leaves the package uncompiled, and where PYTHONDONTWRITEBYTECODE is set every run
	# then compiles it again: ~25 ms of each `carepg` start-up (PERFORMANCE.md, ingest).
	$(BIN)/python -m compileall -q cli/carepg
	touch $@

# The benchmarks also need matplotlib (the growth plot); demo and test don't.
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $@

demo: $(STAMP)
	$(BIN)/carepg demo

# Both report their slowest tests (--durations), so a test's cost is visible where it is paid.
test: $(STAMP)
	$(BIN)/pytest --durations=25

# The quick tier (about half a minute on 2 quiet cores): the tests marked `fast` (pyproject.toml says which).
test-fast: $(STAMP)
	$(BIN)/pytest -m "fast and not slow" --durations=10

# Rewrite sql/schema.sql from a freshly migrated database (commit the result with the migration).
schema: $(STAMP)
	$(BIN)/python alembic/schema_dump.py --write

# Write the next revision from what changed under sql/<schema>/ (README, "Changing carepg"): make migration NAME=slug
# (SERVER=<url of a running server, e.g. `carepg db url`> builds there instead of on a throw-away one: quicker).
migration: $(STAMP)
	$(BIN)/python alembic/make_migration.py $(NAME) $(if $(SERVER),--server '$(SERVER)')

# Benchmarks (PERFORMANCE.md quotes their reports in bench/results/). Seed when needed; long on 2 cores.
# bench: challenge scale (~8 min once seeded): pages, the whole answer, eligibility maintenance, refresh, claims,
# the application's writes beside carepg (triggers on and off), then push (bench/push_bench.py: commit -> event
# latency with 1 and 1,000 subscribers, pages and writes beside 1,000 idle subscribers). bench-large: the large
# profile at 0.2M, 2M and 20M shifts, each in its own database of the same cluster (the 20M one seeds in minutes
# and the whole target takes ~30 min), then the growth plot. bench-http: wrk against `carepg serve` and the
# yardstick (bench/yardstick.py), alternating. wrk and pgbench come from Debian.
bench: $(BENCH_STAMP)
	$(BIN)/python bench/bench.py --profile challenge --seconds 10 --changes 500 --runs 5
	$(BIN)/python bench/push_bench.py

bench-large: $(BENCH_STAMP)
	bench/large.sh

bench-http: $(BENCH_STAMP)
	bench/http.sh

# CLI start-up: `carepg shifts W --limit 5` against psql calling the same function, whole processes, one run;
# needs a seeded database (make demo) and psql.
bench-cli: $(STAMP)
	$(BIN)/python bench/cli_bench.py

clean:
	-$(BIN)/carepg db down --purge
	rm -rf $(VENV)

# Price-transparency ingest benchmark (not part of `make test`): generates 1 and 5 GB of JSON in /tmp, ingests
# each beside isal alone and `gzip -dc`, and reports the ratios against their goals and Anthem's projection.
bench-mrf: $(BENCH_STAMP)
	$(BIN)/python bench/mrf_bench.py --size $(or $(SIZE),1G,5G)
