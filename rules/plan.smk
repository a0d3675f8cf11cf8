# The campaign plan: plan.json and spec.resolved.yaml, what `textrl plan` writes (included by the Snakefile).


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
