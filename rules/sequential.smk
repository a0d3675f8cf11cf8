# Sequential seeds (seeds: {per_stage, max_stages}); stage_runs, stage_files and used_summaries are in
# rules/common.smk, since the targets and the report need them too (included by the Snakefile).


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
