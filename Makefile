# tradelake: `make demo` sets everything up and ingests a sample day; `make test` runs the tests.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_DATE ?= 2025-01-15
export TRADELAKE_JARS_DIR ?= $(CURDIR)/.jars

.PHONY: setup jars demo test lint format clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

jars: $(VENV)/.installed
	$(PY) -m tradelake.jars fetch > /dev/null

setup: $(VENV)/.installed jars

demo: setup
	mkdir -p lake
	$(PY) -m tradelake.sample --date $(DEMO_DATE) --out lake/raw --overwrite > lake/sample.json
	./spark-submit.sh jobs/ingest.py --date $(DEMO_DATE) > lake/last-run.log; \
	  status=$$?; \
	  tail -n 1 lake/last-run.log > lake/last-run.json; \
	  $(PY) -m tradelake.report lake/last-run.json; \
	  exit $$status

test: setup
	$(PY) -m pytest

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf lake build .pytest_cache .mypy_cache .ruff_cache
