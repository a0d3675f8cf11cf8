"""Weights & Biases logging for one run: group = campaign, job_type = arm, name = run_id.

wandb is imported only when the mode is not "disabled", so runs and tests need neither the package
nor a network. The W&B run id is stored in the checkpoint, and a resumed run continues the same W&B run.
A resume repeats the steps after its checkpoint; W&B already holds those from the interrupted attempt
(the same numbers: training is deterministic), so they are not sent again: RUN_DIR/.wandb_step records
the last step sent.
"""

from __future__ import annotations

from pathlib import Path


LAST_STEP_FILE = ".wandb_step"


def _read_step(path: Path) -> int:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return 0


class Tracker:
    def __init__(self, cfg, run_dir: Path, resolved_config: dict, run_id: str | None = None):
        self.mode = cfg.wandb.mode
        self._run = None
        self.run_id = run_id
        self._sent = Path(run_dir) / LAST_STEP_FILE
        self._sent_before = _read_step(self._sent) if run_id else 0
        if self.mode == "disabled":
            return
        import wandb

        self._run = wandb.init(
            project=cfg.wandb.project,
            entity=cfg.wandb.entity,
            group=cfg.campaign,
            job_type=cfg.arm,
            name=cfg.run_id,
            id=run_id,  # None on a fresh run: W&B picks the id, which the checkpoint then stores
            resume="allow",
            mode=self.mode,
            dir=str(run_dir),
            tags=list(cfg.wandb.tags),
            config=resolved_config,
        )
        self.run_id = self._run.id

    def log(self, row: dict) -> None:
        if self._run is None or row["step"] <= self._sent_before:
            return
        self._run.log({k: v for k, v in row.items() if v is not None and k != "step"}, step=row["step"])
        self._sent.write_text(str(row["step"]))

    def summary(self, values: dict) -> None:
        if self._run is not None:
            self._run.summary.update(values)

    def finish(self) -> None:
        if self._run is not None:
            self._run.finish()
            self._run = None
