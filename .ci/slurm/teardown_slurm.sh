#!/usr/bin/env bash
# Stops ONLY the daemons setup_slurm.sh started, by the pids in its pid files under $RUN, after
# checking /proc/<pid>/comm so a recycled pid is never signalled. Jobs still queued or running in
# that (our own) cluster are cancelled first: their job steps would outlive slurmd.
# --purge also deletes $RUN. Safe to call twice, or when setup never got far.
set -uo pipefail
BASE=${SLURM_CI_DIR:-${TMPDIR:-/tmp}/slurm-ci}
RUN=$BASE/run
[ "$(id -u)" -ne 0 ] && exec sudo --preserve-env=SLURM_CI_DIR,TMPDIR "$0" "$@"

alive() {  # alive <pidfile> <comm>
  [ -s "$1" ] || return 1
  local pid; pid=$(cat "$1")
  [ -d "/proc/$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ]
}
stop() {  # stop <pidfile> <comm>
  local pf=$1 comm=$2 pid
  [ -s "$pf" ] || return 0
  pid=$(cat "$pf")
  if alive "$pf" "$comm"; then
    echo "teardown_slurm: stopping $comm (pid $pid)"
    kill -TERM "$pid"
    for _ in $(seq 50); do [ -d "/proc/$pid" ] || break; sleep 0.2; done
    [ -d "/proc/$pid" ] && kill -KILL "$pid"
  fi
  rm -f "$pf"
}

if alive "$RUN/slurmctld.pid" slurmctld; then   # the cluster is ours, and so are all its jobs
  ids=$(timeout 10 squeue -h -t PD,R,CG,S -o %i 2>/dev/null | tr '\n' ' ')
  if [ -n "${ids// }" ]; then
    echo "teardown_slurm: cancelling jobs $ids"
    timeout 10 scancel $ids 2>/dev/null
    for _ in $(seq 40); do   # KillWait=5: steps are gone within ~6 s
      [ -z "$(timeout 5 squeue -h -t PD,R,CG,S -o %i 2>/dev/null)" ] && break; sleep 0.5
    done
  fi
fi
stop "$RUN/slurmd.pid"         slurmd
stop "$RUN/slurmctld.pid"      slurmctld   # its child slurmscriptd exits with it
stop "$RUN/munge/munged.pid"   munged
if [ "${1:-}" = --purge ]; then rm -rf "$RUN"; fi
exit 0
