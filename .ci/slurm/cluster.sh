#!/usr/bin/env bash
# A one-node SLURM cluster on localhost for tests: munged, slurmctld and slurmd run as root in the
# background; state, logs and pid files live under $ALIGNRL_SLURM_DIR.
#
#   .ci/slurm/cluster.sh start    write the config, start the daemons, wait until the node is idle
#   .ci/slurm/cluster.sh stop     stop the daemons this script started, remove the config it wrote
#
# The config goes to /etc/slurm, not to a private SLURM_CONF: the executor plugin's job step strips every
# SLURM_* variable before it calls srun inside the job, so srun only finds the default location. A
# slurm.conf there that this script did not write is never overwritten.
#
# Cluster facts the profile needs (.ci/slurm/local_profile.py fills them in): partition `ci`, no
# accounts (no slurmdbd, so no sacct either: status goes through squeue, kept alive by MinJobAge), and
# eight stand-in GPUs of type `ci` (no devices behind them), so the profile's GPU requests (a training job
# asks for 8) are scheduled for real.
set -euo pipefail

DIR=${ALIGNRL_SLURM_DIR:-/tmp/alignrl-slurm}
ETC=/etc/slurm
CONF=$ETC/slurm.conf
MARK="# written by alignrl .ci/slurm/cluster.sh"
PARTITION=ci
GPU_TYPE=ci
GPU_COUNT=8

say() { echo "[slurm-cluster] $*" >&2; }

write_config() {
    local host cpus mem_mb
    host=$(hostname -s)
    # at least 8 CPUs, however many cores there are: a training job's 8 GPUs come with one CPU each
    # (sbatch --cpus-per-gpu); config_overrides lets slurmd declare more than the machine has
    cpus=$(nproc)
    [ "$cpus" -ge 8 ] || cpus=8
    # leave a quarter of the memory to the daemons and the submitting Snakemake
    mem_mb=$(awk '/MemTotal/ {printf "%d", $2 / 1024 * 0.75}' /proc/meminfo)
    for file in "$CONF" "$ETC/gres.conf"; do
        if [ -e "$file" ] && ! grep -qxF "$MARK" "$file"; then
            say "$file exists and was not written by this script; not touching a real cluster's config"
            exit 1
        fi
    done
    mkdir -p "$ETC" "$DIR/state" "$DIR/spool" "$DIR/log"
    cat >"$CONF" <<EOF
$MARK
ClusterName=alignrl-ci
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
SwitchType=switch/none
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
# no cgroups in a container: plain process tracking, no task binding, no usage sampling
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
# no slurmdbd: sacct cannot answer, so the executor plugin must query squeue. Finished jobs stay in
# slurmctld (squeue, scontrol show job) for MinJobAge seconds: far longer than the plugin's status
# interval, and than the smoke run, whose jobs the test inspects afterwards (rule, state, GPUs)
AccountingStorageType=accounting_storage/none
MinJobAge=3600
# one line per finished job, kept after MinJobAge
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.log
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
ReturnToService=2
# the node may report other socket/core counts than configured here; do not drain it for that
SlurmdParameters=config_overrides
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb Gres=gpu:$GPU_TYPE:$GPU_COUNT State=UNKNOWN
PartitionName=$PARTITION Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    # stand-in GPUs: slurmd drops a GPU without a device file, so each gets an empty file under $DIR;
    # with task/none nothing is bound or hidden, jobs are only scheduled against them
    mkdir -p "$DIR/dev"
    for i in $(seq 0 $((GPU_COUNT - 1))); do : >"$DIR/dev/fakegpu$i"; done
    cat >"$ETC/gres.conf" <<EOF
$MARK
NodeName=$host Name=gpu Type=$GPU_TYPE File=$DIR/dev/fakegpu[0-$((GPU_COUNT - 1))]
EOF
}

# a process that exited but was not reaped yet (state Z) counts as gone
alive() {
    local state
    state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
    [ "${state:0:1}" != Z ]
}
pid_alive() { [ -f "$1" ] && alive "$(cat "$1" 2>/dev/null)"; }

start_munge() {
    if munge -n </dev/null >/dev/null 2>&1; then
        say "munged already answers; using it"
        return
    fi
    [ -s /etc/munge/munge.key ] || { say "no /etc/munge/munge.key (the munge package creates it)"; exit 1; }
    install -d -o munge -g munge -m 0755 /run/munge
    install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge
    runuser -u munge -- /usr/sbin/munged
    touch "$DIR/munged.started-here"
    for _ in $(seq 50); do
        munge -n </dev/null >/dev/null 2>&1 && return
        sleep 0.1
    done
    say "munged does not answer"; exit 1
}

wait_idle() {
    local state=""
    for _ in $(seq 120); do
        state=$(sinfo --noheader -p "$PARTITION" -o %t 2>/dev/null || true)
        case "$state" in
            idle|mix|alloc) say "node is $state"; return ;;
            inval*|drain*|drng*|down*) [ "$SECONDS" -lt 10 ] || break ;;
        esac
        sleep 0.5
    done
    say "the node never became idle (sinfo: '${state}')"
    sinfo -N -l >&2 || true
    tail -n 30 "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log" >&2 || true
    exit 1
}

start() {
    if pid_alive "$DIR/slurmctld.pid" || pid_alive "$DIR/slurmd.pid"; then
        say "daemons from $DIR are running; stop them first"; exit 1
    fi
    # only what an earlier start left: ALIGNRL_SLURM_DIR may name a directory that holds other things
    rm -rf "$DIR/state" "$DIR/spool" "$DIR/log" "$DIR/dev" "$DIR/profile" "$DIR"/*.pid "$DIR/munged.started-here"
    SECONDS=0
    write_config
    start_munge
    # -i: ignore state left by an earlier cluster; the daemons fork and write their pid files
    slurmctld -i || { say "slurmctld failed to start"; tail -n 30 "$DIR/log/slurmctld.log" >&2; exit 1; }
    for _ in $(seq 50); do scontrol ping >/dev/null 2>&1 && break; sleep 0.2; done
    scontrol ping >/dev/null || { say "slurmctld does not answer"; tail -n 30 "$DIR/log/slurmctld.log" >&2; exit 1; }
    # slurmd loads a cgroup plugin even with proctrack/linuxproc and task/none (22.05 has no
    # CgroupPlugin=disabled); the default, autodetect, copes with the v1 or v2 hierarchy of a container
    slurmd || { say "slurmd failed to start"; tail -n 30 "$DIR/log/slurmd.log" >&2; exit 1; }
    wait_idle
}

stop_pidfile() {
    local file=$1 name=$2 pid
    pid=$(cat "$file" 2>/dev/null) || return 0
    alive "$pid" || return 0
    kill "$pid"
    for _ in $(seq 50); do alive "$pid" || { say "stopped $name"; return 0; }; sleep 0.2; done
    say "$name (pid $pid) ignores SIGTERM; killing it"
    kill -9 "$pid" 2>/dev/null || true
}

stop() {
    if [ -f "$CONF" ] && scontrol ping >/dev/null 2>&1; then
        scancel --full "--partition=$PARTITION" 2>/dev/null || true
        # slurmd leaves running job steps alone when it stops: wait until the cancelled jobs are gone
        for _ in $(seq 60); do
            [ -z "$(squeue --noheader --states=RUNNING,COMPLETING,PENDING "--partition=$PARTITION" 2>/dev/null)" ] && break
            sleep 0.5
        done
    fi
    stop_pidfile "$DIR/slurmd.pid" slurmd
    stop_pidfile "$DIR/slurmctld.pid" slurmctld
    if [ -f "$DIR/munged.started-here" ]; then
        stop_pidfile /run/munge/munged.pid munged
        rm -f "$DIR/munged.started-here"
    fi
    for file in "$CONF" "$ETC/gres.conf"; do
        if [ -e "$file" ] && grep -qxF "$MARK" "$file"; then rm -f "$file"; fi
    done
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
