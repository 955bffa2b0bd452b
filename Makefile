# TeamPulse developer entry points. Run `make help` for the list.
#
# The local service stack (Kafka, Redis, Prometheus, Alertmanager) runs without
# Docker through deploy/stack/*.sh; its ports and folders are set with the
# TEAMPULSE_* variables described in deploy/stack/lib.sh.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON      ?= python3
VENV        ?= .venv
VENV_STAMP  := $(VENV)/.teampulse-installed
# Extra pytest arguments, e.g. make test PYTEST_ARGS='-k redis -x'
PYTEST_ARGS ?=
# Two test processes; each integration module (or the modules sharing a session's scenario
# runs or connector stack) stays whole on one of them. PYTEST_PARALLEL= runs in one process.
PYTEST_PARALLEL ?= -n 2 --dist loadscope --durations=15
# Services for `make up`, e.g. make up SERVICES='kafka redis' (default: all four)
SERVICES    ?=
# 1 = pytest's "no tests collected" (exit 5) counts as success (.ci/run sets it)
ALLOW_NO_TESTS ?= 0
# Arguments of `make bench`, e.g. make bench BENCH_ARGS='--events 50000 --latency-seconds 20'
BENCH_ARGS  ?=
BENCH_STAMP := $(VENV)/.teampulse-bench-installed
# Arguments of `make soak`, e.g. make soak SOAK_ARGS='--days 60 --minutes 8'
SOAK_ARGS   ?=

.PHONY: help venv up down wipe tools test demo lint bench soak

help:
	@echo "TeamPulse make targets:"
	@echo "  venv   create/refresh $(VENV) with pip install -e '.[dev,lrs-test]' (only when pyproject.toml changed)"
	@echo "  up     start the local stack: Kafka, Redis, Prometheus, Alertmanager (SERVICES='kafka redis' for a subset)"
	@echo "  down   stop everything the stack started (services and recorded app processes)"
	@echo "  wipe   down, then delete the stack's data (Kafka log dir, Redis dump, Prometheus TSDB)"
	@echo "  tools  install the Debian packages the tests run besides the services (docker-compose, openssl, chromium)"
	@echo "  test   venv + up + tools + pytest (PYTEST_ARGS='...' passes arguments)"
	@echo "  demo   venv + up + teampulse demo (DEMO_SECONDS=N stops it after N seconds; DEMO_TENANTS=1: two tenants)"
	@echo "  lint   ruff, mypy, shellcheck of the stack scripts, promtool and amtool on the configs (installs what is missing)"
	@echo "  bench  venv (+ the bench extra) + up + one benchmark run: table, benchmarks/results/*.json"
	@echo "         (BENCH_ARGS='--events 50000 --latency-seconds 20' for a short run)"
	@echo "  soak   venv + up + 90 compressed simulated days through one worker: RSS, state and Redis"
	@echo "         memory every simulated week, flat after the retention horizon or exit 1"
	@echo "         (SOAK_ARGS='--days 60 --minutes 8'; benchmarks/results/soak/*.json)"

venv: $(VENV_STAMP)
	@:

$(VENV_STAMP): pyproject.toml
	@if [ ! -x "$(VENV)/bin/python" ]; then \
	  echo "[make] creating virtualenv $(VENV) with $(PYTHON)"; \
	  $(PYTHON) -m venv "$(VENV)"; \
	fi
	@echo "[make] installing the project into $(VENV): pip install -e '.[dev,lrs-test]'"
	@"$(VENV)/bin/python" -m pip install --disable-pip-version-check -q -e '.[dev,lrs-test]'
	@touch "$@"
	@echo "[make] $(VENV) is up to date"

pyproject.toml:
	@echo "[make] pyproject.toml is missing: nothing to install into $(VENV)" >&2
	@exit 1

up:
	@echo "[make] starting the local stack $(SERVICES)"
	@bash deploy/stack/up.sh $(SERVICES)

down:
	@echo "[make] stopping the local stack"
	@bash deploy/stack/down.sh

wipe:
	@echo "[make] stopping the local stack and wiping its data"
	@bash deploy/stack/down.sh --wipe

tools:
	@bash deploy/stack/ensure-packages.sh docker-compose openssl chromium

test: venv up tools
	@echo "[make] running pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS)"
	@rc=0; "$(VENV)/bin/pytest" $(PYTEST_PARALLEL) $(PYTEST_ARGS) || rc=$$?; \
	if [ "$$rc" -eq 5 ] && [ "$(ALLOW_NO_TESTS)" = 1 ]; then \
	  echo "[make] pytest collected no tests (exit 5); ALLOW_NO_TESTS=1 counts that as success"; rc=0; \
	fi; \
	if [ "$$rc" -ne 0 ]; then echo "[make] pytest failed with exit code $$rc" >&2; fi; \
	exit $$rc

demo: venv up
	@echo "[make] running teampulse demo$(if $(DEMO_SECONDS), for $(DEMO_SECONDS)s,)$(if $(DEMO_TENANTS), with two tenants,) (Ctrl-C stops it)"
	@"$(VENV)/bin/teampulse" demo

$(BENCH_STAMP): $(VENV_STAMP)
	@echo "[make] installing the benchmark extra into $(VENV): pip install -e '.[dev,lrs-test,bench]'"
	@"$(VENV)/bin/python" -m pip install --disable-pip-version-check -q -e '.[dev,lrs-test,bench]'
	@touch "$@"

bench: $(BENCH_STAMP) up
	@echo "[make] running the benchmarks $(BENCH_ARGS)"
	@"$(VENV)/bin/python" -m benchmarks.run $(BENCH_ARGS)

soak: venv up
	@echo "[make] running the soak $(SOAK_ARGS)"
	@"$(VENV)/bin/python" -m benchmarks.soak $(SOAK_ARGS)

lint: venv
	@bash deploy/stack/ensure-packages.sh shellcheck prometheus alertmanager
	@echo "[make] ruff check"
	@"$(VENV)/bin/ruff" check .
	@echo "[make] ruff format --check"
	@"$(VENV)/bin/ruff" format --check .
	@echo "[make] mypy"
	@"$(VENV)/bin/mypy" teampulse benchmarks
	@echo "[make] checking stack scripts and monitoring configs"
	@for f in deploy/stack/*.sh .ci/run; do bash -n "$$f" || exit 1; done
	@shellcheck -x deploy/stack/*.sh .ci/run
	@promtool check config deploy/prometheus/prometheus.yml deploy/prometheus/prometheus.compose.yml >/dev/null
	@amtool check-config deploy/alertmanager/alertmanager.yml >/dev/null
	@echo "[make] lint passed"
