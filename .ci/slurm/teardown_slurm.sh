#!/usr/bin/env bash
# Stops ONLY the daemons setup_slurm.sh started, by the pids in its pid files under $RUN, after
# checking /proc/<pid>/comm so a recycled pid is never signalled. --purge also deletes $RUN.
set -uo pipefail
BASE=${SLURM_CI_DIR:-${TMPDIR:-/tmp}/slurm-ci}
RUN=$BASE/run
[ "$(id -u)" -ne 0 ] && exec sudo --preserve-env=SLURM_CI_DIR,TMPDIR "$0" "$@"

stop() {  # stop <pidfile> <comm>
  local pf=$1 comm=$2 pid
  [ -s "$pf" ] || return 0
  pid=$(cat "$pf")
  if [ -d "/proc/$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$comm" ]; then
    echo "teardown_slurm: stopping $comm (pid $pid)"
    kill -TERM "$pid"
    for _ in $(seq 50); do [ -d "/proc/$pid" ] || break; sleep 0.2; done
    [ -d "/proc/$pid" ] && kill -KILL "$pid"
  fi
  rm -f "$pf"
}

stop "$RUN/slurmd.pid"         slurmd
stop "$RUN/slurmctld.pid"      slurmctld   # its child slurmscriptd exits with it
stop "$RUN/munge/munged.pid"   munged
if [ "${1:-}" = --purge ]; then rm -rf "$RUN"; fi
