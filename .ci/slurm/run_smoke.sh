#!/usr/bin/env bash
# The SLURM test on its own: the smoke campaign on a real single-node SLURM cluster, through
# profiles/slurm unchanged, with one fake GPU per job (tests/slurm/test_smoke_on_slurm.py says what
# it checks). CI (.ci/run) does the same around the whole test suite.
#
#   .ci/slurm/run_smoke.sh    (root or passwordless sudo, apt; ~3 min on 2 cores, TEXTRL_SLURM_TIMEOUT=900 s)
#
# Starts munge + slurmctld + slurmd with setup_slurm.sh unless this SLURM_CI_DIR's cluster is already
# up (a developer's: it is used and left running), runs the test with TEXTRL_SLURM_CI=1 (fail, never
# skip), and stops only the daemons it started. Needs `TEXTRL_EXTRAS=test,slurm ./install.sh`.
set -euo pipefail
cd "$(dirname "$0")/../.."
export SLURM_CI_DIR=${SLURM_CI_DIR:-${TMPDIR:-/tmp}/slurm-ci} FAKE_GPUS=${FAKE_GPUS:-2}

started_here=1
pid=$(cat "$SLURM_CI_DIR/run/slurmctld.pid" 2>/dev/null || true)
[ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = slurmctld ] && started_here=0
if [ "$started_here" = 1 ]; then
  trap '.ci/slurm/teardown_slurm.sh --purge' EXIT   # also after a failed or partial setup
  timeout 600 .ci/slurm/setup_slurm.sh
fi

TEXTRL_SLURM_CI=1 .venv/bin/python -m pytest -q -p no:cacheprovider tests/slurm "$@"
