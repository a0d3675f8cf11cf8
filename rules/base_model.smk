# The base model the runs start from, built here only when the spec asks for the tiny model (an existing
# model path needs none: BASE is None) (included by the Snakefile).


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
