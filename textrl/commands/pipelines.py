"""`textrl pipelines`: the advantage presets and every parameter they set (mlx-free)."""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print {preset: resolved pipeline} as JSON")
    parser.add_argument("--steps", type=int, default=None, metavar="N",
                        help="resolve sepa.steps for a run of N steps (default: left as the run length)")


def cell(value: object) -> str:
    if value is None:
        return "off"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value)) or "-"
    return str(value)


def rows(pipelines: dict[str, dict]) -> list[tuple[str, list[str]]]:
    """One row per parameter; a stage's parameters get their own rows, "off" where the stage is off."""
    out = []
    for key in next(iter(pipelines.values())):
        stages = [p[key] for p in pipelines.values() if isinstance(p[key], dict)]
        if not stages:
            out.append((key, [cell(p[key]) for p in pipelines.values()]))
            continue
        for param in dict.fromkeys(k for s in stages for k in s):
            cells = []
            for p in pipelines.values():
                value = "off" if p[key] is None else p[key].get(param)
                cells.append("run steps" if (key, param, value) == ("sepa", "steps", None) else cell(value))
            out.append((f"{key}.{param}", cells))
    return out


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from textrl.advantages import PRESETS, AdvantagePipeline

    pipelines = {}
    for name in PRESETS:
        p = AdvantagePipeline.preset(name)
        if args.steps is not None:
            p = p.resolved(args.steps)
        pipelines[name] = p.model_dump(mode="json")
        if not args.json and p.needs.uncertainty is None:
            pipelines[name]["uncertainty"] += " (unused)"
    if args.json:
        print(json.dumps(pipelines, indent=2))
        return 0
    table = Table(title="advantage presets", caption="run config: advantage: {preset: NAME, ...overrides}")
    table.add_column("parameter")
    for name in pipelines:
        table.add_column(name)
    for path, cells in rows(pipelines):
        table.add_row(path, *cells)
    Console().print(table)
    return 0
