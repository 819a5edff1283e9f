# privgan_runner — `make help` lists the targets.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
ARGS   ?=

.DEFAULT_GOAL := help
.PHONY: help run test test-all bench data clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml setup.py | $(VENV)/bin/python
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

run: $(VENV)/.installed ## set up .venv if needed and run the default experiment (extra overrides: ARGS="...")
	$(PY) -m privgan_runner $(ARGS)

test: $(VENV)/.installed-dev ## set up .venv with dev extras and run the test suite (no slow tests)
	$(PY) -m pytest -q $(ARGS)

test-all: $(VENV)/.installed-dev ## the test suite including slow tests
	$(PY) -m pytest -q -m "slow or not slow" $(ARGS)

bench: $(VENV)/.installed ## training steps/s against a naive DataLoader + eager baseline (ARGS="--device cuda")
	$(PY) scripts/bench.py $(ARGS)

data: ## install the datasets that can be installed here (Fashion-MNIST from Debian's package)
	@if [ -d /usr/share/datasets/fashion-mnist ]; then echo "Fashion-MNIST: present in /usr/share/datasets/fashion-mnist"; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist; \
	else echo "Fashion-MNIST: run as root: apt-get install dataset-fashion-mnist"; exit 1; fi

clean: ## remove the virtual environment and build leftovers (outputs/ is kept)
	rm -rf $(VENV) build *.egg-info .pytest_cache
