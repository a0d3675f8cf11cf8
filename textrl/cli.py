"""`textrl` command line: a thin dispatcher; each subcommand lives in textrl/commands/<name>.py."""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, one-line help). Modules are imported only when their command runs, so
# `textrl report` and `textrl plan` work without importing mlx.
COMMANDS = {
    "base-model": ("textrl.commands.base_model", "build and warm-start the built-in tiny model (cached)"),
    "train": ("textrl.commands.train", "train one run from a run config (resumes from its checkpoint)"),
    "eval": ("textrl.commands.evaluate", "held-out evaluation of a run's final policy -> eval.json"),
    "summarize": ("textrl.commands.summarize", "write a finished run's summary.json"),
    "pipelines": ("textrl.commands.pipelines", "print the advantage pipeline presets and their parameters"),
    "plan": ("textrl.commands.plan", "expand a campaign spec: runs, compute, wall time, power preview"),
    "interim": ("textrl.commands.interim", "interim analysis of a sequential campaign's stage -> sequential/stage_K.json"),
    "status": ("textrl.commands.status", "per-run status of a campaign results directory"),
    "runs": ("textrl.commands.runs", "one table (CSV/Parquet) of every run of every campaign in a results directory"),
    "report": ("textrl.commands.report", "rebuild a campaign's statistical comparison and report"),
}


def build_parser() -> tuple[argparse.ArgumentParser, dict]:
    parser = argparse.ArgumentParser(prog="textrl", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    modules = {}
    for name, (modname, help_) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        try:
            mod = importlib.import_module(modname)
        except ModuleNotFoundError as e:
            if e.name != modname:
                raise
            continue
        mod.add_arguments(p)
        modules[name] = mod
    return parser, modules


def main(argv: list[str] | None = None) -> int:
    from textrl.errors import ConfigError

    parser, modules = build_parser()
    args = parser.parse_args(argv)
    if args.command not in modules:
        parser.error(f"command {args.command!r} is not available in this installation")
    try:
        return int(modules[args.command].run(args) or 0)
    except ConfigError as e:
        print(f"textrl {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"textrl {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
