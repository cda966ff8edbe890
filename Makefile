# vipredict: two commands for a fresh machine.
#   make run        set up, train + register if no champion exists, evaluate, serve on localhost
#   make test       set up, ruff, both test tiers (what .ci/run calls)
# and, for development:
#   make test-fast  the fast tier only (synthetic tiny home; under a minute)
#   make bento      wheel -> clean venv -> `bentoml build` of serving/ -> serve it, /readyz 200
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
BENTO_VENV ?= .bento-venv
export VIPREDICT_HOME ?= $(CURDIR)/.vipredict
export VIPREDICT_DATA_MIRROR ?= $(abspath $(CURDIR)/../shared/data)
export BENTOML_HOME ?= $(VIPREDICT_HOME)/bentoml
export BENTOML_DO_NOT_TRACK ?= True
export MLFLOW_DISABLE_TELEMETRY ?= true
PORT ?= 3000
# make test: pytest-xdist workers (each trains on one thread; tests/conftest.py says why).
TEST_WORKERS ?= 2
# Let Python and pytest cache compiled modules and rewritten test plugins between runs
# (some shells switch that off; the suite then recompiles hypothesis and schemathesis each run).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: setup run train evaluate serve test test-fast lint wheel bento bench clean

$(BIN)/vipredict: pyproject.toml requirements.lock
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# --no-compile: Python compiles what is imported on first use, not all of site-packages now.
	# -c requirements.lock: every package, direct or not, at the version the suite was run with.
	$(BIN)/pip install --quiet --no-compile -c requirements.lock -e ".[dev]"
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

lint: setup
	$(BIN)/ruff check src tests serving benchmarks features training

test: lint
	OMP_NUM_THREADS=1 $(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=15

test-fast: setup
	$(BIN)/pytest -q -m "not e2e"

# The wheel stands alone: it carries the feature sets and training configurations.
wheel: setup
	rm -rf serving/dist
	$(BIN)/pip wheel --quiet --no-deps -w serving/dist .

# Needs a trained home (make run or make train): the Bento serves VIPREDICT_HOME's champions.
bento: wheel
	rm -rf $(BENTO_VENV)
	$(PYTHON) -m venv $(BENTO_VENV)
	$(BENTO_VENV)/bin/pip install --quiet serving/dist/vipredict-*.whl
	cd serving && $(abspath $(BENTO_VENV))/bin/bentoml build
	$(BENTO_VENV)/bin/python serving/check_bento.py --bento vipredict:latest

bench: setup
	$(BIN)/python benchmarks/calibration.py --output benchmarks/results/calibration.json

clean:
	rm -rf $(VENV) $(BENTO_VENV) $(VIPREDICT_HOME) serving/dist
