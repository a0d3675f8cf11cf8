"""Training progress: a rich bar on a terminal, a plain line every ~5 % of the run in logs (Snakemake)."""

from __future__ import annotations

import sys
import time


class StepProgress:
    def __init__(self, total: int, start: int = 0, description: str = "train", stream=None):
        self.total, self.start = total, start
        self.stream = stream or sys.stderr
        self.t0 = time.perf_counter()
        self.every = max(1, total // 20)
        self._bar = None
        if self.stream.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self._bar = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                console=Console(file=self.stream),
            )
            self._task = self._bar.add_task(description, total=total, completed=start, info="")
            self._bar.start()

    def update(self, step: int, reward: float, tokens_per_s: float) -> None:
        info = f"reward {reward:.3f}  {tokens_per_s:,.0f} tok/s"
        if self._bar is not None:
            self._bar.update(self._task, completed=step, info=info)
        elif step % self.every == 0 or step == self.total:
            done = step - self.start
            elapsed = time.perf_counter() - self.t0
            eta = elapsed / done * (self.total - step) if done else float("nan")
            print(f"step {step}/{self.total}  {info}  elapsed {elapsed:.0f}s  ETA {eta:.0f}s", file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
