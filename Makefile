# Two entry points on a fresh machine: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# The CPU build of torch; set TORCH_SPEC to another requirement (or "" to keep what is installed).
TORCH_SPEC ?= torch==2.13.0

.PHONY: setup demo test test-newest test-oldest lint fuzz dist bench bench-peers bench-gpu docs paper clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	@# Prefer a torch that is already importable, otherwise the CPU build, before the package pulls one in.
	$(BIN)/python -c "import torch" 2>/dev/null || { [ -z "$(TORCH_SPEC)" ] || $(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"; }
	$(BIN)/python -m pip install --quiet -e ".[dev,ray]"
	$(BIN)/python -m pip install --quiet --no-deps -e plugins/robustcheck-plugin-jsonl
	$(BIN)/python -m pip install --quiet --no-deps -e plugins/robustcheck-plugin-overshoot
	@# The peer the attack tests cross-check against; --no-deps: its metadata pins requests 2.25
	@# and torchvision, neither of which its APGD, APGD-T, Square or AutoAttack import.
	$(BIN)/python -m pip install --quiet --no-deps "torchattacks==3.5.1"
	@touch $@

setup: $(VENV)/.installed

demo: setup
	$(BIN)/robustcheck demo

test: setup
	$(BIN)/python -m pytest -q -n 2 -p no:cacheprovider

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# A long CLI fuzzing campaign (the test suite runs 150 cases); figures in docs/fuzzing.md.
FUZZ_CASES ?= 2000
fuzz: setup
	$(BIN)/python tests/fuzz/campaign.py --cases $(FUZZ_CASES)

# sdist and wheel in dist/, checked by twine (tests/release/ installs the wheel into a fresh venv).
# --no-isolation builds with the setuptools in .venv, so no download is needed.
dist: setup
	rm -rf dist
	$(BIN)/python -m build --no-isolation --outdir dist .
	$(BIN)/twine check --strict dist/*

bench: setup
	$(BIN)/python bench/bench_scan.py
	$(BIN)/python bench/bench_attacks.py
	$(BIN)/python bench/bench_spsa.py
	$(BIN)/python bench/bench_autoattack.py
	$(BIN)/python bench/bench_certify.py
	$(BIN)/python bench/bench_memory.py
	$(BIN)/python bench/bench_ray.py

bench-peers: setup
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python bench/bench_peers.py

# ResNet-50 on a GPU against a hand-written GPU floor (figures in docs/benchmarks.md); needs a CUDA
# build of torch (TORCH_SPEC) and, for the ONNX rows, onnxruntime-gpu. `--quick` smoke-tests it on the CPU.
bench-gpu: setup
	$(BIN)/python bench/gpu.py

docs: setup
	$(BIN)/python -m robustcheck.backends.onnx.twin.support_table > docs/onnx-ops.md
	$(BIN)/robustcheck policy schema > policies/robustcheck-policy.schema.json
	$(BIN)/python -m robustcheck.reports.schema > docs/report-schema.json

paper: setup
	$(BIN)/python bench/paper.py -o docs/paper.md

clean:
	rm -rf $(VENV) $(NEWEST) $(OLDEST) build dist *.egg-info .robustcheck-cache

# The smoke subset (tests/conftest.py SMOKE) on the newest torch, onnx and onnxruntime the package
# index resolves (what `pip install robustcheck-gate` gives a user today: a CUDA build of torch),
# in a venv of its own. Part of .ci/run.
NEWEST ?= .venv-newest
SMOKE  := $(addprefix tests/,$(shell grep -v '^\#' tests/smoke.txt))
test-newest: $(NEWEST)/.installed
	$(NEWEST)/bin/python -m pytest -q -n 2 -p no:cacheprovider -m smoke $(SMOKE)

$(NEWEST)/.installed: pyproject.toml
	$(PYTHON) -m venv $(NEWEST)
	$(NEWEST)/bin/python -m pip install --quiet --upgrade pip
	$(NEWEST)/bin/python -m pip install --quiet --upgrade --upgrade-strategy eager -e ".[dev]" torch onnx onnxruntime-gpu
	$(NEWEST)/bin/python -m pip install --quiet --no-deps -e plugins/robustcheck-plugin-jsonl
	$(NEWEST)/bin/python -m pip install --quiet --no-deps -e plugins/robustcheck-plugin-overshoot
	$(NEWEST)/bin/python -c "import torch, onnx, onnxruntime; print('newest: torch', torch.__version__, 'onnx', onnx.__version__, 'onnxruntime', onnxruntime.__version__)"
	@touch $@

# The smoke subset on the lowest versions pyproject.toml declares (tests/release/lowest.py pins
# each `name>=X` to `name==X`), in a venv of its own: the lower bounds are promises. Run by hand
# (it downloads a CUDA build of an old torch); results in the CHANGELOG and docs/benchmarks.md.
# transformers (the text tests' tiny BERTs) at the dev extra's lower bound: 5.x needs torch 2.6.
OLDEST ?= .venv-oldest
OLDEST_PYTHON ?= python3.10
SMOKE_TOOLS := pytest pytest-xdist hypothesis packaging build twine "setuptools>=77" scikit-learn sybil filelock "transformers==4.40.2"
test-oldest: $(OLDEST)/.installed
	$(OLDEST)/bin/python -m pytest -q -n 2 -p no:cacheprovider -m smoke $(SMOKE)

$(OLDEST)/.installed: pyproject.toml tests/release/lowest.py
	$(OLDEST_PYTHON) -m venv $(OLDEST)
	$(OLDEST)/bin/python -m pip install --quiet --upgrade pip
	$(PYTHON) tests/release/lowest.py > $(OLDEST)/constraints.txt
	$(OLDEST)/bin/python -m pip install --quiet -c $(OLDEST)/constraints.txt -e . $(SMOKE_TOOLS)
	$(OLDEST)/bin/python -m pip install --quiet --no-deps -e plugins/robustcheck-plugin-jsonl
	$(OLDEST)/bin/python -m pip install --quiet --no-deps -e plugins/robustcheck-plugin-overshoot
	$(OLDEST)/bin/python -c "import torch, onnx, onnxruntime, numpy, pydantic; print('oldest: torch', torch.__version__, 'onnx', onnx.__version__, 'onnxruntime', onnxruntime.__version__, 'numpy', numpy.__version__, 'pydantic', pydantic.VERSION)"
	@touch $@
