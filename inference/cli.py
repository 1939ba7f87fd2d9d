"""The `spotscale` command: one parser, subcommands found through the `spotscale.commands` entry points.

Each subcommand is a module with `add_arguments(parser)`, a one-line module docstring (its help)
and `run(args) -> int`. Errors of the project's own types become one line on stderr and exit 2; a
closed pipe on stdout ends the command quietly.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from importlib.metadata import entry_points

from spotscale.data.errors import SpotscaleError

ORDER = ("analyze", "score", "merge", "evaluate", "synth", "mine", "train", "evaluate-model")


def _commands() -> dict[str, str]:
    found = {ep.name: ep.value for ep in entry_points(group="spotscale.commands")}
    return dict(sorted(found.items(), key=lambda kv: (ORDER.index(kv[0]) if kv[0] in ORDER else 99)))


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, str]]:
    parser = argparse.ArgumentParser(
        prog="spotscale",
        description="Find, measure and label bleeding spots in skin photos. "
        "Research and documentation aid, not a diagnosis.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    commands = _commands()
    for name, module_name in commands.items():
        module = importlib.import_module(module_name)
        doc = (module.__doc__ or "").strip().splitlines()[0] if module.__doc__ else ""
        p = sub.add_parser(name, help=doc, description=doc)
        module.add_arguments(p)
    return parser, commands


def main(argv: list[str] | None = None) -> int:
    parser, commands = build_parser()
    args = parser.parse_args(argv)
    module = importlib.import_module(commands[args.command])
    try:
        rc = int(module.run(args) or 0)
        sys.stdout.flush()  # here, where a closed pipe is caught, not at exit
        return rc
    except SpotscaleError as e:
        print(f"spotscale {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"spotscale {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader of our output went away (`spotscale analyze x.jpg | head -3`); the files were
        # written before the summary is printed. Python's own flush at exit would fail again
        # (a second traceback), so what is left of stdout goes nowhere
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141  # as a shell reports a process ended by SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
