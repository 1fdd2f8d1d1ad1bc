# Every target sets up what it needs, idempotently: a fresh clone only needs python3 (>= 3.11) and git.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# checkov lives in its own virtualenv: it and python-hcl2 both install a module named hcl2 (DESIGN.md §5).
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV    := .tools/checkov
CHECKOV         := $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)

.PHONY: serve test lint bench checkov deploy build-ApiFunction clean help

help:
	@echo "make serve   start dbvend on the embedded default (local git repository in ./dbvend-data)"
	@echo "make test    run every test"
	@echo "make lint    ruff and mypy"
	@echo "make bench   run the benchmarks in bench/"
	@echo "make deploy  build and deploy to AWS with SAM (needs the SAM CLI and Docker; github-app/README.md)"
	@echo "make checkov install checkov $(CHECKOV_VERSION) into $(CHECKOV_VENV) (every target that needs it does)"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "dbvend needs Python >= 3.11 (set PYTHON=...)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

$(CHECKOV):
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check 'checkov==$(CHECKOV_VERSION)'
	rm -f $(CHECKOV_VENV)/.installed-*
	touch $@

checkov: $(CHECKOV)

serve: $(STAMP) $(CHECKOV)
	$(BIN)/dbvend serve

test: $(STAMP) $(CHECKOV)
	$(BIN)/python -m pytest -q -n 2

lint: $(STAMP)
	$(BIN)/ruff check engine tests bench scripts
	$(BIN)/ruff format --check engine tests bench scripts
	$(BIN)/mypy

bench: $(STAMP) $(CHECKOV)
	$(BIN)/python bench/bench_request.py
	$(BIN)/python bench/bench_api.py
	$(BIN)/python bench/bench_workers.py
	$(BIN)/python bench/bench_policy.py
	$(BIN)/python bench/bench_aws.py
	$(BIN)/python bench/bench_ci.py
	$(BIN)/python bench/bench_ttl.py
	$(BIN)/python bench/bench_portal.py
	$(BIN)/python bench/bench_github_scale.py
	$(BIN)/python bench/bench_notify.py
	$(BIN)/python bench/bench_audit.py

# AWS (github-app/template.yaml): sam build makes the API's zip with build-ApiFunction below and
# the consumer's image from github-app/Dockerfile; --guided asks for the stack's parameters once.
deploy:
	@command -v sam >/dev/null || { echo "make deploy needs the AWS SAM CLI and Docker: https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/install-sam-cli.html"; exit 1; }
	cd github-app && sam build && sam deploy --guided --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND

# Run by `sam build` (ApiFunction's BuildMethod: makefile) with ARTIFACTS_DIR set: dbvend and its
# dependencies as Lambda's python3.11 on x86_64 imports them.
build-ApiFunction:
	python3 -m pip wheel --quiet --no-deps -w "$(ARTIFACTS_DIR)/.wheel" .
	python3 -m pip install --quiet --no-compile --target "$(ARTIFACTS_DIR)" --platform manylinux2014_x86_64 \
		--implementation cp --python-version 3.11 --only-binary=:all: "$(ARTIFACTS_DIR)"/.wheel/*.whl
	rm -rf "$(ARTIFACTS_DIR)/.wheel"

clean:
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache
