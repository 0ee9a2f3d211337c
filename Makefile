# Two commands on a fresh machine: `make run` (SQLite, port 8000) and `make test` (whole suite).
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DATABASE_URL ?= sqlite:///$(CURDIR)/var/pgx.sqlite3
PORT ?= 8000

.PHONY: run test test-fast venv db tables lint conformance bench clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (Python 3.11+)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,redis]'
	touch $(STAMP)

venv: $(STAMP)

db: $(STAMP)
	$(BIN)/pgx db upgrade

tables: db
	$(BIN)/pgx tables load --if-changed

run: tables
	$(BIN)/pgx clients bootstrap
	$(BIN)/pgx serve --bind 127.0.0.1:$(PORT)

# The whole suite: lint, the CPIC conformance runs (printed gene by gene and drug by drug; they
# skip, saying why, without ../shared), then pytest on SQLite and, when PGX_TEST_POSTGRES_URL names
# a reachable server, on PostgreSQL too.
test: $(STAMP)
	$(BIN)/ruff check service tests scripts tools benchmarks migrations
	$(BIN)/bandit -q -r service -ll
	$(BIN)/lint-imports
	$(BIN)/python scripts/conformance_phenotypes.py
	$(BIN)/python scripts/conformance_recommendations.py --adapter http
	$(BIN)/python scripts/conformance_wording.py
	$(BIN)/python scripts/conformance_sweep.py
	$(BIN)/python scripts/conformance_vcf.py --jobs 2
	$(BIN)/pytest -q

conformance: $(STAMP)
	$(BIN)/python scripts/conformance_phenotypes.py
	$(BIN)/python scripts/conformance_recommendations.py
	$(BIN)/python scripts/conformance_sweep.py
	$(BIN)/python scripts/conformance_wording.py
	$(BIN)/python scripts/conformance_vcf.py --jobs 2

lint: $(STAMP)
	$(BIN)/ruff check service tests scripts tools benchmarks migrations
	$(BIN)/bandit -q -r service -ll
	$(BIN)/lint-imports

# Unit tests only, in a few seconds' to a minute's time: no multi-process run, no PostgreSQL.
test-fast: $(STAMP)
	$(BIN)/pytest -q -m "not slow and not postgres"

clean:
	rm -rf $(VENV) var .pytest_cache
