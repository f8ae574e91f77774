# tradelake: `make demo` sets everything up and ingests a sample day; `make test` runs the tests.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_DATE ?= 2025-01-15
export TRADELAKE_JARS_DIR ?= $(CURDIR)/.jars

.PHONY: setup jars jvm-archive demo test test-athena test-dbt test-reliability test-kafka test-airflow test-faults bench lint
.PHONY: lock test-latest
.PHONY: format clean image-context render report test-report

# Every virtualenv installs exactly its lock file (requirements/*.txt, made by `make lock`
# from pyproject.toml's ranges): a fresh clone gets what CI last passed with. uv, at the
# version the lock names, installs it; `uv pip sync` also removes what the lock dropped.
DEV_LOCK ?= requirements/dev.txt
AIRFLOW_LOCK ?= requirements/airflow.txt
DBT_LOCK ?= requirements/dbt.txt
DBT_VENV ?= .venv-dbt
AIRFLOW_VENV ?= .venv-airflow
uv_pin = $$(grep -m1 '^uv==' $(DEV_LOCK))
# install_locked VENV LOCK: (re)create VENV with exactly LOCK and the project, editable.
define install_locked
	$(PYTHON) -m venv $(1)
	$(1)/bin/python -m pip install --quiet --disable-pip-version-check "$(uv_pin)"
	$(1)/bin/uv pip sync --quiet --python $(1)/bin/python $(2)
	$(1)/bin/uv pip install --quiet --python $(1)/bin/python --no-deps -e .
endef

$(VENV)/.installed: pyproject.toml $(DEV_LOCK)
	$(call install_locked,$(VENV),$(DEV_LOCK))
	touch $@

jars: $(VENV)/.installed
	$(PY) -m tradelake.jars fetch > /dev/null

# The driver JVM's class-data archive (scripts/jvm-archive.sh): ~5 s less per job start.
# Remade when the virtualenv (Spark) or the pinned jars change.
JVM_ARCHIVE ?= build/jvm/spark.jsa
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

# The saved Athena queries and views on Trino 476 (Athena engine v3's engine) over moto,
# and the analysts' dbt project (analytics/) on the same Trino and lake; test-dbt runs the
# dbt tests alone (they need the tier's Trino and lake all the same; the DAG's dbt step
# runs in Airflow's virtualenv, against this Trino).
ATHENA_MARKERS = athena
test-dbt: ATHENA_MARKERS = athena and dbt
test-athena test-dbt: setup $(DBT_VENV)/.installed $(AIRFLOW_VENV)/.installed
	scripts/trino.sh install
	TRADELAKE_DBT_VENV=$(DBT_VENV) TRADELAKE_AIRFLOW_VENV=$(AIRFLOW_VENV) \
	  $(PY) -m pytest tests/athena -m "$(ATHENA_MARKERS)"

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

# The jobs on moto through fault-injecting proxies (Toxiproxy for TCP faults, an HTTP
# proxy for S3 and Glue errors and lost commit responses): tests/faults, docs/aws.md.
# TRADELAKE_FAULTS_PROFILE=ci runs one random fault schedule instead of five.
test-faults: setup
	scripts/toxiproxy.sh install > /dev/null
	$(PY) -m pytest tests/faults -m faults

# The Airflow DAG (docs/airflow.md) in its own virtualenv, with the pinned Airflow and
# providers (the `airflow` extra); the jobs it runs keep using $(VENV).
$(AIRFLOW_VENV)/.installed: pyproject.toml $(AIRFLOW_LOCK) $(DEV_LOCK)
	$(call install_locked,$(AIRFLOW_VENV),$(AIRFLOW_LOCK))
	$(AIRFLOW_VENV)/bin/python -m pip check
	touch $@

# The analysts' dbt project (analytics/, docs/dbt.md) in its own virtualenv (the `dbt`
# extra, with dbt-trino and dbt-athena); the Athena tier runs it on its Trino.
$(DBT_VENV)/.installed: pyproject.toml $(DBT_LOCK) $(DEV_LOCK)
	$(call install_locked,$(DBT_VENV),$(DBT_LOCK))
	$(DBT_VENV)/bin/python -m pip check
	touch $@

test-airflow: setup $(AIRFLOW_VENV)/.installed
	$(AIRFLOW_VENV)/bin/python -m pytest tests/airflow -m airflow

# The locks (requirements/*.txt) re-resolved from pyproject.toml's ranges: the newest
# versions by default; LOCK_UPGRADE="--upgrade-package NAME" moves one package,
# LOCK_UPGRADE= only what a pyproject change needs; EXCLUDE_NEWER=2026-11-28 resolves as
# of a day. runtime.txt (the image's and the Glue jobs' pins) is the package's own
# dependencies at the dev lock's versions. Then run the tiers and commit
# (docs/development.md, "Moving the pins").
LOCK_UPGRADE ?= --upgrade
LOCK_PYTHON := 3.11
compile = $(VENV)/bin/uv pip compile --quiet --python-version $(LOCK_PYTHON) \
  --custom-compile-command 'make lock' $(if $(EXCLUDE_NEWER),--exclude-newer $(EXCLUDE_NEWER)) pyproject.toml
lock: $(VENV)/.installed
	$(compile) $(LOCK_UPGRADE) --extra dev -o requirements/dev.txt
	$(compile) $(LOCK_UPGRADE) --extra airflow-dev -o requirements/airflow.txt
	# dbt's lock bootstraps the same uv as the dev lock (install_locked); nothing else is shared.
	mkdir -p build && grep -m1 '^uv==' requirements/dev.txt > build/uv-pin.txt
	$(compile) $(LOCK_UPGRADE) --extra dbt-dev --constraint build/uv-pin.txt -o requirements/dbt.txt
	$(compile) --constraint requirements/dev.txt -o requirements/runtime.txt
	git diff --stat -- requirements/ || true

# The suite on the newest versions pyproject.toml allows, in a throwaway virtualenv
# (build/latest), the locks untouched: drift found on purpose. LATEST_TARGETS picks the
# tiers (default: make test), e.g. LATEST_TARGETS="test test-athena test-airflow".
LATEST := build/latest
LATEST_TARGETS ?= test
test-latest: $(VENV)/.installed
	mkdir -p $(LATEST)
	$(compile) --upgrade --extra dev -o $(LATEST)/dev.txt
	$(compile) --upgrade --extra airflow-dev -o $(LATEST)/airflow.txt
	@echo "test-latest: newer than the locks:"
	@diff <(grep -h '^[a-z0-9]' requirements/dev.txt requirements/airflow.txt | sort -u) \
	  <(grep -h '^[a-z0-9]' $(LATEST)/dev.txt $(LATEST)/airflow.txt | sort -u) | grep '^>' || true
	TRADELAKE_VENV=$(CURDIR)/$(LATEST)/venv TRADELAKE_LOCK=$(LATEST)/dev.txt \
	  TRADELAKE_AIRFLOW_LOCK=$(LATEST)/airflow.txt \
	  TRADELAKE_JVM_ARCHIVE=$(CURDIR)/$(LATEST)/spark.jsa \
	  $(MAKE) $(LATEST_TARGETS) VENV=$(LATEST)/venv DEV_LOCK=$(LATEST)/dev.txt \
	  JVM_ARCHIVE=$(LATEST)/spark.jsa AIRFLOW_VENV=$(LATEST)/venv-airflow \
	  AIRFLOW_LOCK=$(LATEST)/airflow.txt

# Benchmarks (docs/benchmarks.md): BENCH_SMOKE=1 runs every scenario on tiny data,
# BENCH_LARGE=1 adds 10M trades. Results go to bench/results/<timestamp>.json.
bench: setup
	$(PY) -m bench.run $(if $(BENCH_SMOKE),--smoke) $(if $(BENCH_LARGE),--large)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

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
