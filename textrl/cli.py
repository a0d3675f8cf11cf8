"""`textrl` command line: a thin dispatcher; each subcommand lives in textrl/commands/<name>.py."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from textrl import __version__
from textrl.errors import ConfigError

# name -> (module, one-line help). Only the command that runs is imported, so `textrl report` and
# `textrl plan` work without importing mlx, and `textrl --help` imports none of them.
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
    "compare": ("textrl.commands.compare", "read several campaigns together: runs pooled where configs are identical"),
}


def build_parser(command: str | None) -> tuple[argparse.ArgumentParser, object]:
    """The parser, with the arguments of `command` only (its module imported; the others are not)."""
    parser = argparse.ArgumentParser(prog="textrl", description=__doc__)
    parser.add_argument("--version", action="version", version=f"textrl {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    module = None
    for name, (modname, help_) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        if name == command:
            module = importlib.import_module(modname)
            module.add_arguments(p)
    return parser, module


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = next((a for a in argv if not a.startswith("-")), None)
    parser, module = build_parser(command if command in COMMANDS else None)
    args = parser.parse_args(argv)
    try:
        return int(module.run(args) or 0)
    except ConfigError as e:
        print(f"textrl {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"textrl {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `textrl runs ... | head`: the reader left; say nothing, and keep Python's exit-time flush quiet
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
