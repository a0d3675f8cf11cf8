"""The smoke campaign on a real SLURM cluster, through profiles/slurm, with one (fake) GPU per job.

Checks that every training run was its own SLURM job (the `slurm_job_id` its config.json records is a
COMPLETED `rule_train` job in squeue), and that the plugin turned the spec's `resources:` into the right
sbatch flags: --gpus=1, -p <partition>, -A <account>, --mem, -t and --cpus-per-task for every job the
spec's resources apply to (base model, training, evaluation), and none for the local rules.

Needs a cluster this machine can submit to, whose node sees this machine's temporary directory and
advertises gres/gpu: CI starts one with .ci/slurm/setup_slurm.sh (Debian's munge, slurmctld, slurmd;
fake GPUs) and sets TEXTRL_SLURM_CI=1, which turns every "skip: no cluster" into a failure. By hand,
`.ci/slurm/run_smoke.sh` (set up, test, tear down), or step by step (the scripts sudo themselves):

    FAKE_GPUS=2 .ci/slurm/setup_slurm.sh
    TEXTRL_SLURM_CI=1 .venv/bin/python -m pytest -q tests/slurm
    .ci/slurm/teardown_slurm.sh --purge

Knobs: TEXTRL_SLURM_PARTITION (default: the cluster's default partition), TEXTRL_SLURM_ACCOUNT (default:
a made-up account on a cluster without accounting, where SLURM accepts any; none otherwise),
TEXTRL_SLURM_TIMEOUT (seconds for the whole campaign, default 900).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CI = os.environ.get("TEXTRL_SLURM_CI") == "1"
TIMEOUT = int(os.environ.get("TEXTRL_SLURM_TIMEOUT", "900"))
# what the spec asks of every SLURM job; mem and runtime differ from the profile's defaults on purpose
THREADS, MEM_MB, RUNTIME, GPUS = 1, 1500, 30, 1
SLURM_RULES = {"base_model", "train", "evaluate"}  # the Snakefile rules that get the spec's resources; all others are local

pytestmark = [pytest.mark.slurm, pytest.mark.slow, pytest.mark.timeout(TIMEOUT + 180)]


def _cmd(*args: str, timeout: float = 20) -> str:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=True).stdout


def _cluster_problem() -> str | None:
    """Why this machine cannot run the test, or None."""
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        return "snakemake-executor-plugin-slurm is not installed (pip install -e '.[slurm]')"
    for tool in ("sbatch", "squeue", "sinfo", "scontrol", "scancel"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not on PATH (no SLURM client)"
    try:
        ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=20)
        if "is UP" not in ping.stdout:
            return f"slurmctld does not answer (scontrol ping: {(ping.stdout + ping.stderr).strip().splitlines()[:1]})"
        nodes = _cmd("sinfo", "-h", "-N", "-o", "%N|%t|%G").split()
    except (subprocess.SubprocessError, OSError) as e:
        return f"the SLURM cluster does not answer ({e})"
    usable = [n for n in nodes if n.split("|")[1].rstrip("*~#") in ("idle", "mix", "alloc")]
    if not usable:
        return f"no usable node (sinfo: {nodes})"
    if not any("gpu" in n.split("|")[2] for n in usable):
        return f"no usable node advertises gres/gpu (sinfo: {nodes}; setup_slurm.sh FAKE_GPUS=N adds fake ones)"
    return None


def _cluster() -> dict:
    """The cluster's partition, account and MinJobAge; skip (fail with TEXTRL_SLURM_CI=1) without one."""
    problem = _cluster_problem()
    if problem:
        if CI:
            pytest.fail(f"TEXTRL_SLURM_CI=1, but {problem}", pytrace=False)
        pytest.skip(f"no SLURM cluster to test on: {problem}. Run .ci/slurm/run_smoke.sh, or start one "
                    "with `FAKE_GPUS=2 .ci/slurm/setup_slurm.sh`; TEXTRL_SLURM_CI=1 makes this a failure")
    partition = os.environ.get("TEXTRL_SLURM_PARTITION") or next(
        p.rstrip("*") for p in _cmd("sinfo", "-h", "-o", "%P").split() if p.endswith("*"))
    config = _cmd("scontrol", "show", "config")
    no_accounting = re.search(r"^AccountingStorageType\s*=\s*accounting_storage/none", config, re.M)
    account = os.environ.get("TEXTRL_SLURM_ACCOUNT") or ("textrl-ci" if no_accounting else None)
    min_job_age = int(re.search(r"^MinJobAge\s*=\s*(\d+)", config, re.M).group(1))
    return {"partition": partition, "account": account, "min_job_age": min_job_age}


def _run_snakemake(args: list[str], log: Path, timeout: float) -> int | None:
    """Snakemake's exit code, or None when it ran out of time. A late Snakemake gets SIGINT (the plugin
    then scancels its jobs), SIGKILL 60 s later; the job ids it logged are cancelled in any case."""
    with log.open("w") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                pass
            return None
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            ids = re.findall(r"submitted with SLURM jobid (\d+)", log.read_text(errors="replace"))
            if ids:  # only the jobs this test submitted; a no-op for those that ended
                subprocess.run(["scancel", *ids], capture_output=True, timeout=30)


def _sbatch_calls(log: str) -> dict[str, list[str]]:
    """rule name -> the sbatch command lines the plugin logged (--verbose) for it."""
    calls: dict[str, list[str]] = {}
    for line in log.splitlines():
        if line.startswith("sbatch call:"):
            m = re.search(r"--comment '?rule_(\w+?)(?:_wildcards_\S*?)?'?\s", line)
            assert m, f"sbatch call without a rule comment: {line[:300]}"
            calls.setdefault(m.group(1), []).append(line)
    return calls


def _flags(call: str) -> str:
    """The sbatch options of a call, without the --wrap'ed job command."""
    return call.split(" --wrap=", 1)[0]


def test_smoke_campaign_on_slurm(tmp_path):
    cluster = _cluster()
    work = tmp_path
    work.chmod(0o755)  # jobs run as the submitting user, but keep it readable like a shared file system
    spec = yaml.safe_load((ROOT / "campaigns" / "smoke.yaml").read_text())
    spec["resources"] = {"threads": THREADS, "mem_mb": MEM_MB, "runtime": RUNTIME, "gpu": GPUS,
                         "partition": cluster["partition"],
                         **({"account": cluster["account"]} if cluster["account"] else {})}
    (work / "smoke.yaml").write_text(yaml.safe_dump(spec))
    first_check = 2
    assert cluster["min_job_age"] > 3 * first_check, (
        f"MinJobAge={cluster['min_job_age']}: the plugin falls back to sacct below 3x the status delay")

    log = work / "snakemake.log"
    t0 = time.monotonic()
    rc = _run_snakemake(
        [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(work),
         "--profile", str(ROOT / "profiles" / "slurm"), "--cores", "2", "--verbose",
         # the profile's 40 s first status delay, made short for CI; everything else as shipped
         "--slurm-init-seconds-before-status-checks", str(first_check),
         "--config", f"campaign={work / 'smoke.yaml'}", f"results={work / 'results'}"],
        log, TIMEOUT)
    elapsed = time.monotonic() - t0
    text = log.read_text(errors="replace")
    tail = "\n".join(text.splitlines()[-40:])
    assert rc is not None, f"the campaign did not finish within {TIMEOUT} s (TEXTRL_SLURM_TIMEOUT); {log}:\n{tail}"
    assert rc == 0, f"snakemake exit {rc} after {elapsed:.0f} s; last lines of {log}:\n{tail}"

    campaign = work / "results" / spec["name"]
    plan = json.loads((campaign / "plan.json").read_text())
    runs = [r["run_id"] for r in plan["runs"]]
    assert len(runs) == 4, runs  # 2 arms x 2 seeds x 1 group size
    assert (campaign / "analysis" / "report.html").is_file()

    # every job SLURM ran, as squeue remembers it for MinJobAge after the end
    squeue = {}
    for line in _cmd("squeue", "--states=all", "-h", "-O", "JobID:|,State:|,tres-per-job:|,Comment:300").splitlines():
        job_id, state, tres, comment = (f.strip() for f in line.split("|", 3))
        squeue[job_id] = (state, tres, comment)

    # 1. each training run ran inside its own SLURM job, which completed
    job_ids = {}
    for rid in runs:
        cfg = json.loads((campaign / "runs" / rid / "config.json").read_text())
        job = cfg.get("slurm_job_id")
        assert job, f"{rid}: config.json has slurm_job_id={job!r}: the run was not trained in a SLURM job"
        state, tres, comment = squeue.get(str(job), ("not in squeue", "", ""))
        assert (state, comment) == ("COMPLETED", f"rule_train_wildcards_{rid}"), (
            f"{rid}: config.json names SLURM job {job}, which is {state} {comment!r}")
        assert re.search(rf"gpu:{GPUS}\b", tres), f"{rid}: SLURM job {job} holds {tres!r}, not {GPUS} GPU"
        assert (campaign / "runs" / rid / "summary.json").is_file()
        job_ids[rid] = job
    assert len(set(job_ids.values())) == len(runs), f"runs share SLURM jobs: {job_ids}"

    # 2. the sbatch flags the plugin generated from the spec's resources
    calls = _sbatch_calls(text)
    assert len(calls.get("train", [])) == len(runs), f"sbatch calls per rule: { {k: len(v) for k, v in calls.items()} }"
    assert len(calls.get("evaluate", [])) == len(runs)
    assert len(calls.get("base_model", [])) == 1
    assert not set(calls) - SLURM_RULES, f"local rules were sent to SLURM: {sorted(set(calls) - SLURM_RULES)}"
    expected = [rf"--gpus={GPUS}", rf"-p '?{re.escape(cluster['partition'])}'?", rf"--mem {MEM_MB}",
                rf"-t '?{RUNTIME}'?", rf"--cpus-per-task={THREADS}"]
    if cluster["account"]:
        expected.append(rf"-A '?{re.escape(cluster['account'])}'?")
    for rule in SLURM_RULES:
        for call in calls[rule]:
            flags = _flags(call)
            missing = [f for f in expected if not re.search(rf"(^|\s){f}(\s|$)", flags)]
            assert not missing, f"rule {rule}: sbatch call lacks {missing}: {flags}"
    print(f"\nslurm smoke: {len(runs)} training runs in SLURM jobs {sorted(job_ids.values(), key=int)}, "
          f"{sum(map(len, calls.values()))} sbatch calls, {elapsed:.0f} s")
