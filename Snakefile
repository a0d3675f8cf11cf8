"""textrl campaign workflow: spec -> [LR probes -> best lr] -> train -> evaluate -> summarize -> report.

    snakemake --profile profiles/default --cores 2 campaign_ab                 # campaigns/ab.yaml
    snakemake --profile profiles/default --cores 2 campaign_ab --config campaign=campaigns/smoke.yaml
    snakemake -n campaign_ab                                                   # the job plan

A spec with seeds: {per_stage, max_stages} trains in stages: the `interim` checkpoint after each stage
writes sequential/stage_<k>.json, whose next_stage_runs are the next stage's runs (docs/statistics.md).

Targets: campaign_ab (default, = all), plan, runs, analysis, report. Wiring only: every rule calls the
textrl CLI or a package function. Run ids, configs and resources come from textrl.campaign's expansion
of the spec, the same one `textrl plan` prints.

This file holds the shared definitions and the targets; each stage's rules are in rules/ (captions for
--report in rules/captions/):

    rules/common.smk        stage_runs, stage_files, used_summaries   the stages of a sequential campaign
    rules/plan.smk          plan                                      plan.json, spec.resolved.yaml
    rules/base_model.smk    base_model                                the tiny base model, if the spec uses it
    rules/sweep.smk         probe_config, probe, select_lr            the LR sweep, when an arm asks for it
    rules/runs.smk          run_config, train, evaluate, summarize    config, training, evaluation per run
    rules/sequential.smk    interim (checkpoint)                      sequential seed stages
    rules/report.smk        report, analysis
"""

import json
import os
import shlex
import sys
from pathlib import Path

from textrl.campaign import expand_probes, expand_runs, load_spec
from textrl.campaign.expand import base_model_dir

CAMPAIGN = config.get("campaign", "campaigns/ab.yaml")
RESULTS = config.get("results", "results")
SPEC = load_spec(CAMPAIGN)
C = f"{RESULTS}/{SPEC.name}"
RUNS = {r.run_id: r for r in expand_runs(SPEC, RESULTS)}
PROBES = {p.run_id: p for p in expand_probes(SPEC, RESULTS)}
SWEPT = {a.name for a in SPEC.arms if a.lr == "from_sweep"}
BASE = base_model_dir(RESULTS, SPEC)
BASE_INPUT = [str(BASE)] if BASE else []
# Jobs run the textrl of this checkout with this Python, whatever the job's working directory.
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [workflow.basedir, os.environ.get("PYTHONPATH")]))
# Shell commands use TEXTRL and C directly, not through params (snakemake --lint asks for params): params
# are a rerun trigger (profiles/default), and a moved checkout or venv must not retrain finished runs.
TEXTRL = f"{shlex.quote(sys.executable)} -m textrl"
R = SPEC.resources
JOB_RESOURCES = {
    "mem_mb": R.mem_mb,
    "runtime": R.runtime,
    **({"gpu": R.gpu} if R.gpu else {}),
    **({"slurm_partition": R.partition} if R.partition else {}),
    **({"slurm_account": R.account} if R.account else {}),
}
SUMMARIES = [f"{C}/runs/{run}/summary.json" for run in RUNS]
ANALYSIS = f"{C}/analysis"
STAGES = SPEC.stages  # a sequential seed design, or None


# stage_runs, stage_files, used_summaries: the stages of a sequential campaign
include: "rules/common.smk"


RUN_SUMMARIES = used_summaries if STAGES else SUMMARIES


wildcard_constraints:
    run=r"[^/]+",
    probe=r"[^/]+",
    stage=r"\d+",
    arm=r"[^/]+",


localrules:
    campaign_ab,
    all,
    plan,
    runs,
    analysis,
    report,
    run_config,
    probe_config,
    select_lr,
    summarize,
    interim,


onsuccess:
    if (Path(ANALYSIS) / "report.html").exists():
        from analysis.report import verdict_lines

        print("", *(f"textrl: {line}" for line in verdict_lines(C)), sep="\n")
        print(f"textrl: campaign {SPEC.name} done; report: {ANALYSIS}/report.html (and report.md)")


rule campaign_ab:
    input:
        # every run too, not only the report: a report rebuilt by hand from a half-finished campaign
        # (`textrl report`) must not make the campaign look done
        f"{ANALYSIS}/report.html",
        RUN_SUMMARIES,


rule all:
    input:
        rules.campaign_ab.input,


rule runs:
    input:
        RUN_SUMMARIES,


# The stages, in the order of a campaign; a rule's report captions are in rules/captions/, beside them.
include: "rules/plan.smk"
include: "rules/base_model.smk"
include: "rules/sweep.smk"
include: "rules/runs.smk"
include: "rules/sequential.smk"
include: "rules/report.smk"
