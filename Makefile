# vipredict: two commands for a fresh machine.
#   make run   set up, train + register if no champion exists, evaluate, serve on localhost
#   make test  set up and run the test suite
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
export VIPREDICT_HOME ?= $(CURDIR)/.vipredict
export BENTOML_HOME ?= $(VIPREDICT_HOME)/bentoml
export BENTOML_DO_NOT_TRACK ?= True
export MLFLOW_DISABLE_TELEMETRY ?= true
PORT ?= 3000

.PHONY: setup run train evaluate serve test lint bench clean

$(BIN)/vipredict: pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	@touch $@

setup: $(BIN)/vipredict

run: setup
	$(BIN)/vipredict train --if-missing
	$(BIN)/vipredict evaluate --output $(VIPREDICT_HOME)/reports/evaluation.json --cards $(VIPREDICT_HOME)/reports/cards
	$(BIN)/vipredict serve --port $(PORT)

train: setup
	$(BIN)/vipredict train

evaluate: setup
	$(BIN)/vipredict evaluate --output $(VIPREDICT_HOME)/reports/evaluation.json --cards $(VIPREDICT_HOME)/reports/cards

serve: setup
	$(BIN)/vipredict serve --port $(PORT)

test: setup
	$(BIN)/ruff check src tests serving benchmarks features training
	$(BIN)/pytest -q

bench: setup
	$(BIN)/python benchmarks/calibration.py --output benchmarks/results/calibration.json

clean:
	rm -rf $(VENV) $(VIPREDICT_HOME)
