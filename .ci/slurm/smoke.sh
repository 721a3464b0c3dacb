#!/usr/bin/env bash
# The smoke config end to end on a real SLURM cluster: install SLURM and munge (Debian packages), start a
# one-node cluster on localhost, run results/table2.csv through profiles/slurm with its EDIT_ values filled
# in for that cluster, check the outputs and that every job was an sbatch job, and stop the daemons, also
# when anything fails. Needs root (apt-get, the daemons) and the project's Python with the plugin
# (`make setup`); run by .ci/run after the test suite, or by hand: `make slurm-smoke`.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
PYTHON=${PYTHON:-$REPO/.venv/bin/python}
export ALIGNRL_SLURM_DIR=${ALIGNRL_SLURM_DIR:-/tmp/alignrl-slurm}
WORK=$(mktemp -d /tmp/alignrl-slurm-smoke.XXXXXX)
TARGET=results/table2.csv
PROFILE=$ALIGNRL_SLURM_DIR/profile

say() { echo "[slurm-smoke] $*" >&2; }
fail() { say "FAIL: $*"; exit 1; }

[ -x "$PYTHON" ] || fail "$PYTHON not found: run \`make setup\` first, or set PYTHON"
# absolute, since the run happens elsewhere; not through realpath, which would leave the venv
PYTHON=$(cd "$(dirname "$PYTHON")" && pwd)/$(basename "$PYTHON")
"$PYTHON" -c "import snakemake_executor_plugin_slurm" 2>/dev/null \
    || fail "snakemake-executor-plugin-slurm is not installed for $PYTHON (envs/requirements-cpu.txt pins it)"

SECONDS=0
"$REPO/.ci/slurm/install.sh"
install_s=$SECONDS

cleanup() {
    local status=$?
    "$REPO/.ci/slurm/cluster.sh" stop || status=1
    [ "$status" = 0 ] || say "work directory kept for inspection: $WORK"
    exit "$status"
}
trap cleanup EXIT

SECONDS=0
"$REPO/.ci/slurm/cluster.sh" start
start_s=$SECONDS

"$PYTHON" "$REPO/.ci/slurm/local_profile.py" "$PROFILE" >/dev/null

SECONDS=0
say "running $TARGET on configs/smoke.yaml through profiles/slurm in $WORK"
cd "$WORK"
# targets before --configfile, which takes every following word as another config file
if ! timeout 1800 "$PYTHON" -m snakemake "$TARGET" -s "$REPO/Snakefile" --configfile "$REPO/configs/smoke.yaml" \
        --profile "$PROFILE" >"$WORK/snakemake.log" 2>&1; then
    tail -n 80 "$WORK/snakemake.log" >&2
    find "$WORK/logs/slurm" -name '*.log' -exec tail -n 40 {} + >&2 2>/dev/null || true
    tail -n 30 "$ALIGNRL_SLURM_DIR/log/slurmctld.log" >&2
    fail "snakemake through profiles/slurm failed (log: $WORK/snakemake.log)"
fi
run_s=$SECONDS

"$PYTHON" - "$WORK/$TARGET" <<'EOF' || fail "$TARGET is not the smoke table"
import sys
import pandas as pd

table = pd.read_csv(sys.argv[1])
assert len(table) == 12, len(table)  # base, ground_truth, random x 2 models x 2 tasks
assert set(table.claim) == {"base", "ground_truth", "random"}, set(table.claim)
assert table["pass@1"].between(0, 1).all()
EOF
"$PYTHON" "$REPO/.ci/slurm/check_jobs.py" "$WORK/snakemake.log" "$PROFILE/config.yaml" \
    || fail "the run did not go through SLURM as the profile says"
# the numeric mode reaches SLURM jobs too: every metrics file's provenance says portable (the default), ATen on AVX2
"$PYTHON" - "$WORK" <<'EOF' || fail "a SLURM job did not run in the default numeric mode"
import json, sys
from pathlib import Path

files = sorted(Path(sys.argv[1], "results").rglob("metrics.json"))
assert files, "no metrics.json under results/"
for path in files:
    numerics = json.loads(path.read_text())["provenance"]["hardware"]["numerics"]
    assert numerics["mode"] == "portable", (path, numerics["mode"])
    assert numerics["torch_build"]["cpu_capability"] == "AVX2", (path, numerics["torch_build"])
    assert numerics["environment"]["MKL_CBWR"] == "COMPATIBLE", (path, numerics["environment"])
    assert numerics["gemm"] and numerics["gemm"]["version"] is not None, (path, numerics["gemm"])
print(f"{len(files)} metrics files ran portable")
EOF
# SLURM jobs run in their allocations: no local job server may start beside them, nor fork any job
[ ! -e "$WORK/logs/job_server.log" ] && ! grep -rqs "\[job server\]" "$WORK/logs" \
    || fail "a local job server ran beside the SLURM run (logs/job_server.log, or '[job server]' in a job log)"

say "OK: install ${install_s}s, cluster start ${start_s}s, smoke run ${run_s}s"
