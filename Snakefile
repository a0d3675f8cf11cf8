"""textrl campaign workflow: spec -> [LR probes -> best lr] -> train -> evaluate -> summarize -> report.

    snakemake --profile profiles/default --cores 2 campaign_ab                 # campaigns/ab.yaml
    snakemake --profile profiles/default --cores 2 campaign_ab --config campaign=campaigns/smoke.yaml
    snakemake -n campaign_ab                                                   # the job plan

A spec with seeds: {per_stage, max_stages} trains in stages: the `interim` checkpoint after each stage
writes sequential/stage_<k>.json, whose next_stage_runs are the next stage's runs (docs/statistics.md).

Targets: campaign_ab (default, = all), plan, runs, analysis, report. Wiring only: every rule calls the
textrl CLI or a package function. Run ids, configs and resources come from textrl.campaign's expansion
of the spec, the same one `textrl plan` prints.
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


def stage_runs(stage: int) -> list[str]:
    """The runs of one seed stage: stage 1's are planned; a later stage's are what the previous interim chose."""
    if stage == 1:
        return [r.run_id for r in RUNS.values() if r.stage == 1]
    previous = checkpoints.interim.get(stage=str(stage - 1)).output[0]
    return json.loads(Path(previous).read_text())["next_stage_runs"]


def stage_files(wildcards=None) -> list[str]:
    """The interims up to the one that closed every comparison (at most max_stages)."""
    files = []
    for k in range(1, STAGES.max_stages + 1):
        files.append(checkpoints.interim.get(stage=str(k)).output[0])
        if json.loads(Path(files[-1]).read_text())["finished"]:
            break
    return files


def used_summaries(wildcards=None) -> list[str]:
    """A sequential campaign's runs are those of the stages it needed, known stage by stage."""
    return [f"{C}/runs/{run}/summary.json" for k in range(1, len(stage_files()) + 1) for run in stage_runs(k)]


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


rule plan:
    input:
        CAMPAIGN,
    output:
        f"{C}/plan.json",
        f"{C}/spec.resolved.yaml",
    log:
        f"{C}/logs/plan.log",
    shell:
        "{TEXTRL} plan {input} --out {RESULTS} --cores {workflow.cores} > {log} 2>&1"


rule runs:
    input:
        RUN_SUMMARIES,


if BASE:

    rule base_model:
        output:
            directory(str(BASE)),
        log:
            f"{C}/logs/base_model.log",
        params:
            # the same task identity as the runs' configs: the warm start trains on the runs' training
            # split only, and base_eval.json is the runs' held-out set
            task=shlex.quote(SPEC.task.name),
            task_params=shlex.quote(json.dumps(SPEC.task.params, sort_keys=True)),
            split_seed=SPEC.task.split_seed,
            heldout_size=SPEC.task.heldout_size,
            warm_start=f" --warm-start-acc {SPEC.model.warm_start_acc}" if SPEC.model.warm_start_acc else "",
        threads: R.threads
        resources:
            **JOB_RESOURCES,
        shell:
            "{TEXTRL} base-model --task {params.task} --params {params.task_params}"
            " --split-seed {params.split_seed} --heldout-size {params.heldout_size}{params.warm_start}"
            " --out {output} > {log} 2>&1"


# ---------------------------------------------------------------- LR sweep (only when an arm asks for it)


rule probe_config:
    output:
        f"{C}/configs/probes/{{probe}}.json",
    params:
        config=lambda wc: json.dumps(PROBES[wc.probe].config, sort_keys=True),
    run:
        from textrl.campaign.run_files import write_run_config

        probe = PROBES[wildcards.probe]
        write_run_config(json.loads(params.config), output[0], f"{C}/sweep/{probe.arm}/{probe.run_id}")


rule probe:
    input:
        config=f"{C}/configs/probes/{{probe}}.json",
        base=BASE_INPUT,
    output:
        touch(f"{C}/sweep/{{arm}}/{{probe}}/train.done"),
    log:
        f"{C}/logs/probe/{{arm}}/{{probe}}.log",
    threads: R.threads
    resources:
        **JOB_RESOURCES,
    shell:
        "exec {TEXTRL} train {input.config} --out {C}/sweep/{wildcards.arm}/{wildcards.probe} --die-with-parent > {log} 2>&1"


checkpoint select_lr:
    input:
        lambda wc: [
            f"{C}/sweep/{p.arm}/{p.run_id}/train.done" for p in PROBES.values() if p.arm == wc.arm
        ],
    output:
        report(
            f"{C}/sweep/{{arm}}/best_lr.json",
            caption="rules/captions/best_lr.rst",
            category="LR sweep",
            labels={"arm": "{arm}"},
        ),
    run:
        from textrl.campaign.sweep import write_best_lr

        probes = [
            (p.lr, p.seed, f"{C}/sweep/{p.arm}/{p.run_id}/metrics.jsonl")
            for p in PROBES.values()
            if p.arm == wildcards.arm
        ]
        write_best_lr(output[0], wildcards.arm, SPEC.sweep.metric, probes)


# ---------------------------------------------------------------- A/B runs


rule run_config:
    input:
        # no input function without a sweep: Snakemake would otherwise call it once per run
        (lambda wc: [f"{C}/sweep/{RUNS[wc.run].arm}/best_lr.json"] if RUNS[wc.run].arm in SWEPT else [])
        if SWEPT
        else [],
    output:
        f"{C}/configs/runs/{{run}}.json",
    params:
        # the params rerun trigger: a run is retrained only when its own config changes
        config=lambda wc: json.dumps(RUNS[wc.run].config, sort_keys=True),
    run:
        from textrl.campaign.run_files import write_run_config

        write_run_config(json.loads(params.config), output[0], f"{C}/runs/{wildcards.run}", input[0] if input else None)


rule train:
    input:
        config=f"{C}/configs/runs/{{run}}.json",
        base=BASE_INPUT,
    output:
        # A marker, not metrics.jsonl/config.json: Snakemake deletes a rerun job's outputs before it
        # starts, and the metrics of the steps before the checkpoint must survive a resume.
        touch(f"{C}/runs/{{run}}/train.done"),
    log:
        f"{C}/logs/train/{{run}}.log",
    threads: R.threads
    resources:
        **JOB_RESOURCES,
    shell:
        # exec: the trainer's parent is then Snakemake itself, and --die-with-parent ends it with Snakemake
        # (after a hard kill an orphan would keep its run directory locked)
        "exec {TEXTRL} train {input.config} --out {C}/runs/{wildcards.run} --die-with-parent > {log} 2>&1"


rule evaluate:
    # a finished training is evaluated and summarized before the next training starts: runs become
    # done one by one (a crash loses less; `textrl status` and a partial report see them early)
    priority: 1
    input:
        rules.train.output,
    output:
        f"{C}/runs/{{run}}/eval.json",
    log:
        f"{C}/logs/evaluate/{{run}}.log",
    threads: R.threads
    resources:
        **JOB_RESOURCES,
    shell:
        "exec {TEXTRL} eval {C}/runs/{wildcards.run} --die-with-parent > {log} 2>&1"


rule summarize:
    priority: 1
    input:
        rules.evaluate.output,
    output:
        f"{C}/runs/{{run}}/summary.json",
    log:
        f"{C}/logs/summarize/{{run}}.log",
    shell:
        "{TEXTRL} summarize {C}/runs/{wildcards.run} > {log} 2>&1"


# ---------------------------------------------------------------- sequential seeds (seeds: {per_stage, max_stages})


checkpoint interim:
    # stage k's decisions pick stage k+1's runs: the DAG grows one stage at a time
    input:
        plan=f"{C}/plan.json",
        summaries=lambda wc: [f"{C}/runs/{run}/summary.json" for run in stage_runs(int(wc.stage))],
        previous=lambda wc: [f"{C}/sequential/stage_{int(wc.stage) - 1}.json"] if int(wc.stage) > 1 else [],
    output:
        f"{C}/sequential/stage_{{stage}}.json",
    log:
        f"{C}/logs/interim/stage_{{stage}}.log",
    shell:
        "{TEXTRL} interim {C} --stage {wildcards.stage} > {log} 2>&1"


# ---------------------------------------------------------------- analysis and report


rule report:
    input:
        plan=f"{C}/plan.json",
        summaries=RUN_SUMMARIES,
        stages=stage_files if STAGES else [],
    output:
        runs=report(f"{ANALYSIS}/runs.csv", caption="rules/captions/runs.rst", category="Results"),
        comparison=report(f"{ANALYSIS}/comparison.json", caption="rules/captions/comparison.rst", category="Results"),
        md=f"{ANALYSIS}/report.md",
        html=report(f"{ANALYSIS}/report.html", caption="rules/captions/report.rst", category="Report"),
        figures=report(
            directory(f"{ANALYSIS}/figures"),
            patterns=["{name}.png"],
            caption="rules/captions/figures.rst",
            category="Figures",
        ),
    log:
        f"{C}/logs/report.log",
    resources:
        # measured: well under 1 GB for 1,000 runs (benchmarks/analysis.py --runs-per-cell 100)
        mem_mb=1000,
    shell:
        "({TEXTRL} report {C} && {sys.executable} -m textrl.campaign.wandb_report {C}) > {log} 2>&1"


rule analysis:
    input:
        rules.report.output.runs,
        rules.report.output.comparison,
