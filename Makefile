# The two commands a new user needs: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.carepg-installed

.PHONY: demo test schema clean bench-mrf

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: $(STAMP)
	$(BIN)/carepg demo

test: $(STAMP)
	$(BIN)/pytest

# Rewrite sql/schema.sql from a freshly migrated database (commit the result with the migration).
schema: $(STAMP)
	$(BIN)/python tests/schema_dump.py --write

clean:
	-$(BIN)/carepg db down --purge
	rm -rf $(VENV)

# Price-transparency ingest benchmark (not part of `make test`): generates ~5 GB of JSON in /tmp.
bench-mrf: $(STAMP)
	$(BIN)/python bench/mrf_bench.py --size $(or $(SIZE),5G)
