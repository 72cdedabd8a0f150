# Two entry points (see README): `make repro` builds the pipeline, `make test` runs the tests.
# Both create .venv and install the project first (pinned in pyproject.toml).
VENV ?= .venv
PY := $(VENV)/bin/python
# DVC runs each stage's `python -m ...` through PATH: make it the venv's interpreter.
export PATH := $(abspath $(VENV))/bin:$(PATH)
# On this workplace the MNIST originals lie in ../shared; elsewhere the public mirrors are used.
ifneq ($(wildcard ../shared/datasets/mnist/MD5SUMS),)
export DD_MNIST_DIR ?= $(abspath ../shared/datasets/mnist)
endif

# glibc keeps freed tensor memory instead of handing it back to the kernel after every training
# step (which then page-faults it back in): same results, less system time. Measured by
# benchmarks/bench_malloc.py (results in benchmarks/results/malloc_cpu.json); a GLIBC_TUNABLES of
# your own wins.
MALLOC_TUNABLES := glibc.malloc.trim_threshold=4294967296:glibc.malloc.mmap_threshold=33554432:glibc.malloc.top_pad=268435456

.PHONY: install repro test lint bench malloc-tunables
install: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	python3.11 -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

repro: export GLIBC_TUNABLES ?= $(MALLOC_TUNABLES)
repro: install
	dvc repro
	dvc metrics show

test: install
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check src tests benchmarks

bench: install
	$(PY) benchmarks/bench_evaluate.py

malloc-tunables:  # the value, for scripts that run stages outside `make repro` (benchmarks/scratch.sh)
	@echo $(MALLOC_TUNABLES)
