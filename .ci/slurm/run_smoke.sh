#!/usr/bin/env bash
# CI: the smoke campaign on a real single-node SLURM cluster, through profiles/slurm unchanged.
#
#   .ci/slurm/run_smoke.sh    (root or passwordless sudo, apt; ~4 min on 2 free cores, SMOKE_TIMEOUT=900 s)
#
# Starts munge + slurmctld + slurmd (setup_slurm.sh, two inert fake GPUs), runs campaigns/smoke.yaml
# with every job asking for one GPU, then checks that every training job was a SLURM job (its
# slurm_job_id in config.json), that each asked SLURM for the GPU (--gpus=1 in its sbatch call,
# gres:gpu:1 in squeue) and that the report was built. Stops only the daemons it started.
# Needs the slurm extra in .venv: `TEXTRL_EXTRAS=test,slurm ./install.sh`.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
SNAKEMAKE=$ROOT/.venv/bin/snakemake
PY=$ROOT/.venv/bin/python
WORK=$(mktemp -d "${TMPDIR:-/tmp}/textrl-slurm-smoke.XXXXXX")
chmod 755 "$WORK"   # jobs run as the submitting user, but keep it readable like a shared file system
export SLURM_CI_DIR=${SLURM_CI_DIR:-${TMPDIR:-/tmp}/slurm-ci} FAKE_GPUS=${FAKE_GPUS:-2}

"$PY" -c 'import snakemake_executor_plugin_slurm' 2>/dev/null \
  || { echo "run_smoke: snakemake-executor-plugin-slurm missing; run TEXTRL_EXTRAS=test,slurm ./install.sh" >&2; exit 1; }

# A cluster this script did not start (a developer's own) is used, and left running afterwards.
started_here=1
pid=$(cat "$SLURM_CI_DIR/run/slurmctld.pid" 2>/dev/null || true)
[ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = slurmctld ] && started_here=0
cleanup() {
  local rc=$?
  if [ "$started_here" = 1 ]; then
    # our own cluster: cancel what a timeout left behind (job steps outlive slurmd), then stop it
    ids=$(squeue -h -t PD,R,CG -o %i 2>/dev/null || true)
    [ -n "$ids" ] && { scancel $ids; sleep 6; }
    .ci/slurm/teardown_slurm.sh --purge
  fi
  if [ "$rc" = 0 ]; then rm -rf "$WORK"; else echo "run_smoke: FAILED (rc=$rc); logs kept in $WORK" >&2; fi
  exit "$rc"
}
trap cleanup EXIT
.ci/slurm/setup_slurm.sh

# The smoke spec as shipped, plus a GPU per job: the Snakefile turns the spec's resources into
# the plugin's resources (gpu, mem_mb, runtime, slurm_partition, slurm_account).
"$PY" - "$WORK/smoke.yaml" <<'PYEOF'
import sys, yaml
spec = yaml.safe_load(open("campaigns/smoke.yaml"))
spec["resources"] = {**spec.get("resources", {}), "gpu": 1, "runtime": 30}
yaml.safe_dump(spec, open(sys.argv[1], "w"))
PYEOF

echo "run_smoke: snakemake --profile profiles/slurm (log: $WORK/snakemake.log)"
t0=$(date +%s)
# --verbose: the plugin logs each sbatch call; the short first status delay only saves CI time
# SIGTERM lets snakemake wait for running jobs; SIGKILL 30 s later if it still has not stopped
if ! timeout -k 30 "${SMOKE_TIMEOUT:-900}" "$SNAKEMAKE" --profile profiles/slurm --cores 2 --verbose \
    --slurm-init-seconds-before-status-checks 2 \
    --config campaign="$WORK/smoke.yaml" results="$WORK/results" \
    > "$WORK/snakemake.log" 2>&1; then
  tail -n 40 "$WORK/snakemake.log" >&2
  exit 1
fi
echo "run_smoke: campaign finished in $(( $(date +%s) - t0 )) s"

squeue --states=all -h -O "JobID:|,State:|,tres-per-job:|,Comment:300" > "$WORK/squeue.txt"
"$PY" - "$WORK" <<'PYEOF'
import json, re, sys
from pathlib import Path

work = Path(sys.argv[1])
(campaign,) = (work / "results").iterdir()
plan = json.loads((campaign / "plan.json").read_text())
log = (work / "snakemake.log").read_text()
sbatch = [line for line in log.splitlines() if line.startswith("sbatch call:")]
squeue = {}
for line in (work / "squeue.txt").read_text().splitlines():
    job_id, state, tres, comment = (f.strip() for f in line.split("|", 3))
    squeue[job_id] = (state, tres, comment)

problems, job_ids = [], set()
for run in plan["runs"]:
    rid = run["run_id"]
    cfg = json.loads((campaign / "runs" / rid / "config.json").read_text())
    job = cfg.get("slurm_job_id")
    if not job:
        problems.append(f"{rid}: config.json has no slurm_job_id: not trained in a SLURM job")
        continue
    job_ids.add(job)
    state, tres, comment = squeue.get(str(job), ("missing", "", ""))
    if state != "COMPLETED" or not comment.startswith("rule_train_"):
        problems.append(f"{rid}: SLURM job {job} is {state} {comment!r}, expected a COMPLETED rule_train job")
    if "gpu:1" not in tres:
        problems.append(f"{rid}: SLURM job {job} requested {tres!r}, expected gres:gpu:1")
    calls = [c for c in sbatch if re.search(rf"--comment '?rule_train_wildcards_{re.escape(rid)}'?(\s|$)", c)]
    if len(calls) != 1 or "--gpus=1" not in calls[0] or "--mem " not in calls[0] or " -t 30" not in calls[0]:
        problems.append(f"{rid}: expected one sbatch call with --gpus=1, --mem and -t 30, got {calls}")
    if not (campaign / "runs" / rid / "summary.json").exists():
        problems.append(f"{rid}: no summary.json")
if len(job_ids) != len(plan["runs"]):
    problems.append(f"{len(plan['runs'])} runs but {len(job_ids)} distinct SLURM job ids")
if not (campaign / "analysis" / "report.html").exists():
    problems.append("no analysis/report.html")
if problems:
    sys.exit("run_smoke: " + "\n  ".join(["FAILED checks:"] + problems))
print(f"run_smoke: OK: {len(plan['runs'])} training runs, each its own SLURM job with --gpus=1 "
      f"(jobs {', '.join(sorted(job_ids, key=int))}); {len(sbatch)} sbatch calls in all; report built")
PYEOF
