# The two commands of the README. Both create or refresh .venv themselves.
#   make run   set up, then run the whole pipeline on the embedded synthetic corpus
#   make test  set up, then run the test suite (what CI runs)
VENV ?= .venv
PYTHON ?= python3
BIN = $(VENV)/bin

export DVC_NO_ANALYTICS = 1
export RAY_AUTH_MODE = disabled
export PYTHONUNBUFFERED = 1

.PHONY: setup run test

setup: $(VENV)/.installed

# Reinstalls when the dependency declaration or the pins change; torch comes from the pinned CPU wheel.
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $@

run: setup
	$(BIN)/python benchmarks/model_throughput.py --steps 2 --variants tagf,rjcma

test: setup
	$(BIN)/ruff check tagf orchestration tests benchmarks
	$(BIN)/python -m pytest
