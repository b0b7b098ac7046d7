# ganprint: `make help` lists the targets. Every target that needs the environment sets it up first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
FMNIST_DIR ?= /usr/share/datasets/fashion-mnist
SCALE ?= cpu
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install data test test-full lint train reproduce-tables bench clean clean-logs

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  %-18s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first and pinned: the CPU build of 2.13.0 lies on this machine's disk; an unpinned torch pulls CUDA.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

install: $(VENV)/.installed data ## create .venv, install torch 2.13.0 + ganprint[dev], get Fashion-MNIST

data: ## install Debian's dataset-fashion-mnist if its files are missing (needs apt and root)
	@if ls $(FMNIST_DIR)/train-images-idx3-ubyte* >/dev/null 2>&1; then \
		echo "Fashion-MNIST found in $(FMNIST_DIR)"; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		(apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; \
	else \
		echo "Fashion-MNIST is missing: put train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,"; \
		echo "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz in $(FMNIST_DIR), or set"; \
		echo "GANPRINT_FASHION_MNIST_DIR (and FMNIST_DIR=...) to the folder that holds them."; \
	fi

test: install ## fast test suite (under 15 minutes on 2 cores)
	$(PY) -m pytest -m "not slow" -q $(PYTEST_ARGS)

test-full: install ## every test, slow ones included
	$(PY) -m pytest -q $(PYTEST_ARGS)

lint: install ## ruff
	$(VENV)/bin/ruff check src tests benchmarks

train: install ## train attNet at the cpu scale (ARGS='sources=... trainer=...' for more)
	$(VENV)/bin/ganprint-train scale=$(SCALE) $(ARGS)

reproduce-tables: install ## every paper table and figure at SCALE (default cpu) into results/$(SCALE)/
	$(VENV)/bin/ganprint-reproduce scale=$(SCALE) $(ARGS)

bench: install ## throughput of ganprint vs a plain PyTorch loop -> results/bench.json
	$(PY) -m benchmarks $(ARGS)

clean-logs: ## remove run outputs (logs/)
	rm -rf logs

clean: ## remove caches and build leftovers (keeps .venv, data and logs)
	rm -rf build dist .pytest_cache .ruff_cache src/*.egg-info
	find . -name __pycache__ -not -path './.venv/*' -prune -exec rm -rf {} +
