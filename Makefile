# Every target sets up what it needs, idempotently: a fresh clone only needs python3 (>= 3.11) and git.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: serve test lint bench clean help

help:
	@echo "make serve   start dbvend on the embedded default (local git repository in ./dbvend-data)"
	@echo "make test    run every test"
	@echo "make lint    ruff and mypy"
	@echo "make bench   run the benchmarks in bench/"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "dbvend needs Python >= 3.11 (set PYTHON=...)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

serve: $(STAMP)
	$(BIN)/dbvend serve

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check engine tests bench scripts
	$(BIN)/ruff format --check engine tests bench scripts
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/bench_request.py
	$(BIN)/python bench/bench_api.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
