# Two commands do everything on a fresh machine:
#   make lab    create .venv, install the pinned course, open JupyterLab on notebooks/
#   make test   the same install plus test tools, then lint and every test (unit, notebooks, DDP, browser)
# Each target does its own setup; re-running skips what is already installed.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
BASE   := $(VENV)/.installed-base
TOOLS  := $(VENV)/.installed-test
NBVAL  := --nbval --nbval-current-env --nbval-sanitize-with notebooks/nbval_sanitize.cfg
# Unit tests in one worker process per core (pytest-xdist); each runs torch on one thread
# (tests/conftest.py), so two cores do twice the work. A module stays on one worker (loadscope).
PARALLEL := -n auto --dist loadscope
NOTEBOOKS := $(wildcard notebooks/*.ipynb notebooks/solutions/*.ipynb)
export PYTHONHASHSEED := 0

.PHONY: lab test test-fast test-unit test-notebooks test-ddp test-ui execute figures gpt2 bench lint clean

$(BASE): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -r requirements.txt
	$(PIP) install -q --no-deps -e .
	touch $@

$(TOOLS): $(BASE) requirements-test.txt
	$(PIP) install -q -r requirements-test.txt
	touch $@

# JupyterLab refuses to start as root unless told; containers and cloud VMs often run as root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root,)

lab: $(BASE)
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks $(ROOT_FLAG)

test: lint test-unit test-notebooks test-ddp test-ui
	@echo "make test: all checks passed"

# The unit tests without notebooks, DDP, browser and the slow ones (wheel build, shipped-model
# re-evaluation): the loop a maintainer runs while editing (under 2 minutes on 2 cores).
test-fast: $(TOOLS)
	$(PY) -m pytest -q $(PARALLEL) -m "not ddp and not ui and not slow" tests

test-unit: $(TOOLS)
	$(PY) -m pytest -q $(PARALLEL) -m "not ddp and not ui" tests

test-notebooks: $(TOOLS)
ifneq ($(strip $(NOTEBOOKS)),)
	$(PY) -m pytest -q $(NBVAL) $(NOTEBOOKS)
else
	@echo "no notebooks yet"
endif

test-ddp: $(TOOLS)
	$(PY) -m pytest -q -m ddp tests

test-ui: $(TOOLS)
	$(PY) -m pytest -q -m ui tests

# Re-run every notebook and store its outputs (what strict nbval then compares).
execute: $(TOOLS)
	$(PY) tests/execute_notebooks.py $(NOTEBOOKS)

# Remake the figures that are drawn from code or from the shipped model (run after retraining it;
# a test fails while they are stale), then record their new hashes in assets/MANIFEST.json.
figures: $(BASE)
	$(PY) assets/figures/make_figures.py
	$(PY) assets/figures/make_generation_animation.py
	$(PY) -m course_utils.check_assets --update

# Opt-in, needs internet once: OpenAI's GPT-2 124M weights, stored and hash-recorded where the course looks.
gpt2: $(BASE)
	$(PY) -m course_utils.weights download gpt2

bench: $(TOOLS)
	$(PY) benchmarks/bench_train.py
	$(PY) benchmarks/bench_generate.py
	$(PY) benchmarks/bench_memory.py

# Style and common bugs (unused names, shadowed builtins, ...) in the code; notebooks are left to nbval.
lint: $(TOOLS)
	$(VENV)/bin/ruff check course_utils tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache test-output
