# Two entry points: `make table2` (set up, then run the main job) and `make test` (set up, then test).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= all

.PHONY: setup table2 test lint bench slurm-smoke clean

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

# Speed benchmarks -> docs/benchmarks.md (sampler vs generate, trainer vs TRL, grading, scaling; with a
# results tree from `make table2` also real jobs before/after and the end-to-end estimate).
$(VENV)/.bench-installed: $(VENV)/.installed envs/requirements-bench.txt
	$(BIN)/pip install --quiet -r envs/requirements-bench.txt
	touch $@

bench: setup $(VENV)/.bench-installed
	$(BIN)/python -m benchmarks.run $(if $(wildcard results/benchmarks),--tree .,)

# As root: install SLURM, start a one-node cluster on localhost, run the smoke config through
# profiles/slurm, check that every job went through sbatch, stop the daemons.
slurm-smoke: setup
	PYTHON=$(abspath $(BIN))/python .ci/slurm/smoke.sh

clean:
	rm -rf results .snakemake
