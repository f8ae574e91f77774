# tradelake: `make demo` sets everything up and ingests a sample day; `make test` runs the tests.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_DATE ?= 2025-01-15
export TRADELAKE_JARS_DIR ?= $(CURDIR)/.jars

.PHONY: setup jars jvm-archive demo test test-athena test-reliability test-kafka test-airflow bench lint
.PHONY: format clean image-context render report test-report

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

jars: $(VENV)/.installed
	$(PY) -m tradelake.jars fetch > /dev/null

# The driver JVM's class-data archive (scripts/jvm-archive.sh): ~5 s less per job start.
# Remade when the virtualenv (Spark) or the pinned jars change.
JVM_ARCHIVE := build/jvm/spark.jsa
$(JVM_ARCHIVE): $(VENV)/.installed lib/tradelake/jars.py
	$(MAKE) jars
	scripts/jvm-archive.sh $@

jvm-archive: $(JVM_ARCHIVE)

setup: $(VENV)/.installed jars $(JVM_ARCHIVE)

demo: setup
	mkdir -p lake
	$(PY) -m tradelake.sample --date $(DEMO_DATE) --out lake/raw --overwrite > lake/sample.json
	scripts/run-and-report.sh ingest $(DEMO_DATE)
	scripts/run-and-report.sh daily_volume $(DEMO_DATE)
	scripts/run-and-report.sh ohlcv $(DEMO_DATE) --interval 1m
	@echo
	$(PY) -m tradelake.report table daily_volume --date $(DEMO_DATE)
	@echo
	$(PY) -m tradelake.report table ohlcv_1m --date $(DEMO_DATE) --limit 8
	@echo
	$(PY) -m tradelake.report html --out lake/report.html

test: setup
	$(PY) -m pytest

# The operations report of the lake (docs/report.md), e.g. REPORT_FLAGS="--symbol AAPL".
report: $(VENV)/.installed
	$(PY) -m tradelake.report html --out lake/report.html $(REPORT_FLAGS)

# The report opened in headless Chromium (Debian's chromium, installed once), offline.
test-report: setup
	scripts/chromium.sh install
	$(PY) -m pytest tests/browser -m browser

# The saved Athena queries and views on Trino 476 (Athena engine v3's engine) over moto.
test-athena: setup
	scripts/trino.sh install
	$(PY) -m pytest tests/athena -m athena

# Fault injection (SIGKILL), concurrency, fuzzing, a bad-input corpus, a standalone
# cluster, resource bounds. The full profile by default; CI runs
# TRADELAKE_RELIABILITY_PROFILE=ci. TRADELAKE_RELIABILITY_SCALE=N multiplies trials and examples.
test-reliability: setup
	$(PY) -m pytest tests/reliability -m reliability

# A real Kafka broker (KRaft, jars from Maven Central), the landing job and ingest
# --source kafka (docs/kafka.md). TRADELAKE_KAFKA_TRIALS=N sets the SIGKILL trials (10).
test-kafka: setup
	scripts/kafka.sh install
	$(PY) -m pytest tests/kafka -m kafka

# The Airflow DAG (docs/airflow.md) in its own virtualenv, with the pinned Airflow and
# providers (the `airflow` extra); the jobs it runs keep using $(VENV).
AIRFLOW_VENV ?= .venv-airflow
$(AIRFLOW_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet -e '.[airflow-dev]'
	$(AIRFLOW_VENV)/bin/python -m pip check
	touch $@

test-airflow: setup $(AIRFLOW_VENV)/.installed
	$(AIRFLOW_VENV)/bin/python -m pytest tests/airflow -m airflow

# Benchmarks (docs/benchmarks.md): BENCH_SMOKE=1 runs every scenario on tiny data,
# BENCH_LARGE=1 adds 10M trades. Results go to bench/results/<timestamp>.json.
bench: setup
	$(PY) -m bench.run $(if $(BENCH_SMOKE),--smoke) $(if $(BENCH_LARGE),--large)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# The image's contents without Docker: what the Dockerfile's build stage makes.
image-context: setup
	PYTHON=$(PY) docker/build.sh build/image --venv build/image/venv

# A rendered Kubernetes overlay, with the pinned kustomize: make render OVERLAY=prod
OVERLAY ?= dev
render:
	scripts/kustomize.sh build k8s/overlays/$(OVERLAY)

clean:
	rm -rf lake build .pytest_cache .mypy_cache .ruff_cache
