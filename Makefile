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

.PHONY: setup setup-cross setup-slurm demo test test-fast bench publish publish-version lint clean

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

# The cross-machine check (bench --cross-machine, tests/slow/test_cross_machine.py): user-mode QEMU
# to run TensorFlow as another CPU model, and the other TensorFlow releases a student may meet, each
# in its own virtual environment with the notebook's packages (about 2.4 GB each).
CROSS_TF := 2.19.1 2.20.0
setup-cross: setup $(STAMPS)/apt-cross $(foreach v,$(CROSS_TF),$(STAMPS)/venv-tf$(v))

$(STAMPS)/apt-cross:
	@mkdir -p $(STAMPS)
	@if dpkg -s qemu-user >/dev/null 2>&1; then echo "apt package present: qemu-user"; \
	else $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq qemu-user; fi
	@touch $@

$(STAMPS)/venv-tf%:
	@mkdir -p $(STAMPS)
	@[ -x .venv-tf$*/bin/python ] || $(PYTHON) -m venv .venv-tf$*
	.venv-tf$*/bin/python -m pip install -q tensorflow==$* keras==3.15.1 pandas==3.1.1 \
	    matplotlib==3.11.2 matplotlib-fontja==1.1.0 ipython==9.19.1
	@touch $@

$(STAMPS)/kernel: $(STAMPS)/venv
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python 3 ($(KERNEL))"
	@touch $@

demo: setup
	$(PY) -m autograder demo

# A single-node Slurm for the Slurm tests (tests/slow/test_slurm.py start and stop it themselves;
# without these packages they are skipped). On a machine with systemd, installing them also starts
# munge's and Slurm's services.
SLURM_PACKAGES := slurmctld slurmd slurm-client munge
setup-slurm: setup $(STAMPS)/apt-slurm

$(STAMPS)/apt-slurm:
	@mkdir -p $(STAMPS)
	@if dpkg -s $(SLURM_PACKAGES) >/dev/null 2>&1; then echo "apt packages present: $(SLURM_PACKAGES)"; \
	else $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
	--no-install-recommends $(SLURM_PACKAGES); fi
	@touch $@

# PHP's command line, for the tests that check with PHP's own strtotime the dates the Moodle
# worksheet export writes (tests/unit/test_lms_export.py).
TEST_PACKAGES := php-cli
$(STAMPS)/apt-test:
	@mkdir -p $(STAMPS)
	@if dpkg -s $(TEST_PACKAGES) >/dev/null 2>&1; then echo "apt package present: $(TEST_PACKAGES)"; \
	else $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
	--no-install-recommends $(TEST_PACKAGES); fi
	@touch $@

test: setup setup-cross $(STAMPS)/apt-test
	$(PY) -m pytest

test-fast: setup $(STAMPS)/apt-test
	$(PY) -m pytest -m unit

bench: setup
	$(PY) -m autograder bench

# One version at a time, named: `make publish VERSION=2027` (publishing re-runs the version's gate).
publish: publish-version setup
	$(PY) -m autograder publish --version $(VERSION)

publish-version:  # refuses before anything is set up
	@[ -n "$(VERSION)" ] || { echo "make publish needs the version: make publish VERSION=<version>" \
	    "(.venv/bin/fmnist-kit versions lists them)" >&2; exit 2; }

lint: setup
	$(VENV)/bin/ruff check autograder tests
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(STAMPS) demo-out .pytest_cache
