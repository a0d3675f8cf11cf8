# A/B runs: per run, its config, training, held-out evaluation and summary (included by the Snakefile).


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
