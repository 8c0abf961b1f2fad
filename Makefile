# Two commands on a fresh Debian machine: `make demo` and `make test`.
# Setup is idempotent: each step leaves a stamp and is skipped on the next run.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMPS := .kit-stamps
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := dataset-fashion-mnist bubblewrap
KERNEL := fmnist-kit

.PHONY: setup demo test test-fast bench publish lint clean

setup: $(STAMPS)/apt $(STAMPS)/venv $(STAMPS)/kernel
	@$(PY) -m autograder data

$(STAMPS)/apt:
	@mkdir -p $(STAMPS)
	@if dpkg -s $(APT_PACKAGES) >/dev/null 2>&1; then echo "apt packages present: $(APT_PACKAGES)"; \
	else $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(APT_PACKAGES); fi
	@touch $@

$(STAMPS)/venv: pyproject.toml
	@mkdir -p $(STAMPS)
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	@touch $@

$(STAMPS)/kernel: $(STAMPS)/venv
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python 3 ($(KERNEL))"
	@touch $@

demo: setup
	$(PY) -m autograder demo

test: setup
	$(PY) -m pytest

test-fast: setup
	$(PY) -m pytest -m unit

bench: setup
	$(PY) -m autograder bench

publish: setup
	$(PY) -m autograder publish

lint: setup
	$(VENV)/bin/ruff check autograder tests
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(STAMPS) demo-out .pytest_cache
