# Ankommen developer entry points. `make` or `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# uv from PATH; otherwise the module that `make bootstrap` installs with pip
# (pip may put the uv script in a directory that is not on PATH).
UV ?= $(shell command -v uv 2>/dev/null || echo python3 -m uv)
# The virtualenv's interpreter: the distribution's CPython where the machine has one
# (Debian's is linked statically and built with its optimised package rules; pyenv's and
# other source builds on PATH are by default neither), else what uv finds. Over the whole
# Hannover run the services and the scenario used a median 169 s of CPU on Debian's 3.11
# against 183 s on pyenv's (docs/scenario.md, Speed). A caller's UV_PYTHON wins.
# Only one whose standard library is whole (Debian's "-minimal" package alone lacks parts);
# probed once per make, newest first, and not at all when the caller chose.
ifndef UV_PYTHON
DISTRO_PYTHON := $(shell for p in /usr/bin/python3.13 /usr/bin/python3.12 /usr/bin/python3.11; do \
	[ -x $$p ] && $$p -c "import asyncio, ctypes, ssl, zoneinfo" 2>/dev/null && { echo $$p; break; }; done)
ifneq ($(DISTRO_PYTHON),)
export UV_PYTHON := $(DISTRO_PYTHON)
endif
endif
# --frozen: use uv.lock as committed, never re-resolve it.
RUN := $(UV) run --frozen
LOCAL := $(RUN) ankommen-local
PYTEST_ARGS ?=
# make test's pytest workers (pytest-xdist). Most of the suite waits on servers, brokers and
# child processes, so two workers fill two cores; each file stays on one worker (its
# module fixtures, such as the tiny benchmarks' run, are set up once).
TEST_WORKERS ?= 2
BENCH_ARGS ?=

.PHONY: help bootstrap lint unit test fuzz bench infra-up infra-down infra-status demo scenario chaos browser-deps browser-test reports

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

bootstrap: ## Install uv if missing, then every workspace package and the dev tools
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv \
		|| python3 -m pip install --quiet --break-system-packages uv
	$(UV) sync --frozen --compile-bytecode
	@# Bytecode of the project's own packages too: where PYTHONDONTWRITEBYTECODE is set (it
	@# is on these machines) nothing is cached at import, and every process (each service
	@# a test or the demo starts) compiled everything it imports again: 3.6 s to import a
	@# service, 2.0 s with the dependencies compiled, 1.5 s with both.
	@$(RUN) python -m compileall -q -j 0 runtime contracts services deploy/local bench scripts >/dev/null

lint: bootstrap ## ruff over the whole repository
	$(RUN) ruff check .

unit: bootstrap ## Unit tests and the contract tests that need no server, in seconds (starts none)
	$(RUN) pytest -q -m "not integration" tests/unit tests/contract tests/fault/test_harness_checks.py tests/infra/test_infra_api.py $(PYTEST_ARGS)

test: bootstrap lint browser-deps ## lint, then pytest with local Kafka and PostgreSQL, TEST_WORKERS=2 at once (PYTEST_ARGS=...)
	scripts/with-infra.sh $(RUN) pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

fuzz: bootstrap ## Long schemathesis run: 500 valid + 500 invalid cases per operation (EXAMPLES=n); figures in tests/fuzz/last-long-run.json
	ANKOMMEN_FUZZ_EXAMPLES=$(or $(EXAMPLES),500) ANKOMMEN_FUZZ_SEED=random ANKOMMEN_FUZZ_REPORT=tests/fuzz/last-long-run.json \
		scripts/with-infra.sh $(RUN) pytest tests/fuzz --timeout 7200 -p no:cacheprovider $(PYTEST_ARGS)

bench: bootstrap ## Benchmarks against same-run ceilings; writes bench/results/latest.{json,md} (BENCH_ARGS=--tiny ...)
	scripts/with-infra.sh $(RUN) python -m bench $(BENCH_ARGS)

browser-deps: ## Install headless Chromium and poppler-utils (Debian packages; CI starts fresh)
	scripts/install-browser-deps.sh

browser-test: bootstrap browser-deps ## Reporting's pages in headless Chromium (axe-core, screenshots, PDFs) with local infra
	scripts/with-infra.sh $(RUN) pytest -q tests/browser $(PYTEST_ARGS)

reports: bootstrap browser-deps ## Print the interim report and the 13 district reports (REPORTING_URL=..., AS_OF=...)
	$(RUN) ankommen-reporting print --url $(or $(REPORTING_URL),http://127.0.0.1:8005) --out reports $(if $(AS_OF),--as-of $(AS_OF))

infra-up: bootstrap ## Start local Kafka and PostgreSQL (idempotent)
	$(LOCAL) up

infra-down: bootstrap ## Stop them
	$(LOCAL) down

infra-status: bootstrap ## Show whether they run and answer
	$(LOCAL) status

demo: bootstrap browser-deps ## Hannover 2010–2016 through the five services; figures and views in demo-output/ (DEMO_ARGS=--scale 0.2 --from 2015-08-01 --pace 0.5)
	scripts/demo.sh $(DEMO_ARGS)

scenario: bootstrap browser-deps ## A scenario run, timed, exits after writing demo-output/ (SCENARIO_ARGS=--scenario rising_again | --scale 10 | --plan-only)
	CI=true scripts/with-infra.sh $(RUN) python -m ankommen_local.scenario $(SCENARIO_ARGS)

chaos: bootstrap ## The long fault run: 2 replicas each, 100 kills, 10 broker and 3 PostgreSQL outages of 60 s+, 6 partitions (SEED=n)
	$(RUN) python tests/fault/chaos.py --seed $(or $(SEED),7) --service-kills 100 --broker-restarts 10 --postgres-restarts 3 --partitions 6 --broker-down 60 --postgres-down 60 --summary tests/fault/last-long-run.json
