#!/usr/bin/env bash
# Install Debian's SLURM and munge for the one-node test cluster. Idempotent: a no-op when they are there.
set -euo pipefail
need=(slurmctld slurmd sbatch squeue sinfo munged)
missing=0
for cmd in "${need[@]}"; do
    command -v "$cmd" >/dev/null || missing=1
done
if [ "$missing" = 0 ]; then
    echo "slurm and munge already installed: slurm-wlm $(dpkg-query -W -f='${Version}' slurm-wlm 2>/dev/null || echo "(not a Debian package)")"
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "installing slurm-wlm and munge needs root (apt-get)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
for cmd in "${need[@]}"; do
    command -v "$cmd" >/dev/null || { echo "$cmd missing after installing slurm-wlm and munge" >&2; exit 1; }
done
echo "installed slurm-wlm $(dpkg-query -W -f='${Version}' slurm-wlm)"
