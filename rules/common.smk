# The stages of a sequential campaign, as far as they are known: functions for the targets, the report and
# the interim checkpoint, so included by the Snakefile before them. Until the interim a function needs has
# run, checkpoints.interim.get raises and Snakemake re-evaluates the DAG once it has.


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
