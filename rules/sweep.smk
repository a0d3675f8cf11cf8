# LR sweep (only when an arm asks for it): probes per lr and probe seed, then the best lr per swept arm
# (included by the Snakefile).


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


rule select_lr:
    # a plain rule, not a checkpoint: no input function reads best_lr.json while the DAG is built;
    # run_config takes it as an input and reads the lr when its job runs
    input:
        lambda wc: [
            f"{C}/sweep/{p.arm}/{p.run_id}/train.done" for p in PROBES.values() if p.arm == wc.arm
        ],
    output:
        report(
            f"{C}/sweep/{{arm}}/best_lr.json",
            caption="captions/best_lr.rst",
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
