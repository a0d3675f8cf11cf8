# Analysis and report of the campaign (included by the Snakefile, last).


rule report:
    input:
        plan=f"{C}/plan.json",
        summaries=RUN_SUMMARIES,
        stages=stage_files if STAGES else [],
    output:
        runs=report(f"{ANALYSIS}/runs.csv", caption="captions/runs.rst", category="Results"),
        comparison=report(f"{ANALYSIS}/comparison.json", caption="captions/comparison.rst", category="Results"),
        md=f"{ANALYSIS}/report.md",
        html=report(f"{ANALYSIS}/report.html", caption="captions/report.rst", category="Report"),
        figures=report(
            directory(f"{ANALYSIS}/figures"),
            patterns=["{name}.png"],
            caption="captions/figures.rst",
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
