# subsel: the two commands are `make demo` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup test demo bench lint clean data gpu-check gpu-apps

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

# Tests marked `slow` run only with SLOW=1. Lint first: a style slip fails as fast as a test.
test: setup lint
	SLOW=$(SLOW) $(PY) -m pytest -q

demo: setup
	$(VENV)/bin/subsel demo --out demo-report

bench: setup data
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev,bench]'
	$(PY) benchmarks/topk_ops.py --device cpu
	$(PY) benchmarks/selection_regression.py
	$(PY) benchmarks/selection_nn.py
	$(PY) benchmarks/selection_scale.py
	$(PY) benchmarks/submodular.py
	$(PY) benchmarks/structured_segmentation.py
	$(PY) benchmarks/structured_stereo.py
	$(PY) benchmarks/dfl_knapsack.py
	$(PY) benchmarks/facility_lp.py
	$(PY) benchmarks/knapsack_ops.py --device cpu
	$(PY) benchmarks/valuation.py
	$(PY) benchmarks/knn.py
	$(PY) benchmarks/explain.py
	$(PY) benchmarks/sne.py

# Offline data for the benchmarks (../shared/DATA.md), without root: the Debian packages are
# fetched with `apt-get download` and unpacked with `dpkg -x` into $(CACHE), where
# subsel.datasets looks for them; packages already installed system-wide or unpacked are skipped.
CACHE  ?= $(or $(SUBSEL_DATA),$(HOME)/.cache/subsel)
FMNIST_SYS := /usr/share/datasets/fashion-mnist
FMNIST_DIR := $(CACHE)/fashion-mnist$(FMNIST_SYS)
MLBENCH_SYS := /usr/lib/R/site-library/mlbench/data
MLBENCH_DIR := $(CACHE)/mlbench$(MLBENCH_SYS)
FMNIST_FILES := train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz

data: setup
	@mkdir -p "$(CACHE)"
	@if ls $(addprefix $(FMNIST_SYS)/,$(FMNIST_FILES)) >/dev/null 2>&1 || ls $(addprefix $(FMNIST_DIR)/,$(FMNIST_FILES)) >/dev/null 2>&1; then \
		echo "data: Fashion-MNIST already there"; \
	else \
		set -e; cd "$(CACHE)" && rm -f dataset-fashion-mnist_*.deb && apt-get download dataset-fashion-mnist \
		&& dpkg -x dataset-fashion-mnist_*.deb fashion-mnist && rm -f dataset-fashion-mnist_*.deb; \
	fi
	@if [ -f $(MLBENCH_SYS)/LetterRecognition.rda ] || [ -f $(MLBENCH_DIR)/LetterRecognition.rda ]; then \
		echo "data: mlbench (Letter) already there"; \
	else \
		set -e; cd "$(CACHE)" && rm -f r-cran-mlbench_*.deb && apt-get download r-cran-mlbench \
		&& dpkg -x r-cran-mlbench_*.deb mlbench && rm -f r-cran-mlbench_*.deb; \
	fi
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev,bench]'

# On a machine with a CUDA GPU (torch built with CUDA): the Triton kernels of subsel.ops.knapsack
# against the torch reference, then the operator benchmark on the GPU (a few minutes).
# Issue 13's GPU runs (not yet run: no GPU has been lent): the stochastic kNN on all 55,000
# Fashion-MNIST training images (tau in {1, 16}, 20 epochs) and RSS-SNE / parametric t-SNE at the
# paper's sizes with 60 epochs, each capped so that the two fit in 9 minutes.
gpu-apps: setup data
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev,bench]'
	timeout 300 $(PY) benchmarks/knn.py --full --device cuda --datasets fashion_mnist --taus 1,16 \
		--epochs-fashion 20 --out benchmarks/results/knn_cuda.json
	timeout 240 $(PY) benchmarks/sne.py --full --device cuda --epochs 60 \
		--out benchmarks/results/sne_cuda.json

gpu-check: setup
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev,gpu]'
	$(PY) -m pytest -q tests/ops/test_dp_triton.py tests/ops/test_knapsack.py
	$(PY) benchmarks/knapsack_ops.py --device cuda --out benchmarks/results/knapsack_ops_cuda.json

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

clean:
	rm -rf demo-report .pytest_cache build *.egg-info src/*.egg-info
