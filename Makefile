# subsel: the two commands are `make demo` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup test demo bench lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# Tests marked `slow` run only with SLOW=1.
test: setup
	SLOW=$(SLOW) $(PY) -m pytest -q

demo: setup
	$(VENV)/bin/subsel demo --out demo-report

bench: setup
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	$(PY) benchmarks/topk_ops.py --device cpu
	$(PY) benchmarks/selection_regression.py

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

clean:
	rm -rf demo-report .pytest_cache build *.egg-info src/*.egg-info
