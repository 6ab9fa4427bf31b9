"""`zkml-tracker`: one sub-command per module in `tracker/commands/`, listed here explicitly."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from tracker.commands import bisect, compare, list_, machine, nightly, preview, publish, regressions, run
from tracker.commands._args import EXIT_USAGE, UsageError, check_arguments
from tracker.adapters import load_config
from tracker.config import ConfigError
from tracker.fsutil import describe_os_error
from tracker.layout import Layout

COMMANDS = (run, publish, list_, preview, nightly, regressions, bisect, compare, machine)


class Parser(argparse.ArgumentParser):
    """argparse, its usage errors in one line (its sub-command parsers are of the same class)."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def parser() -> argparse.ArgumentParser:
    p = Parser(prog="zkml-tracker", description=__doc__.split(":")[0] +
                                ": continuous performance tracking of zkML frameworks on asv")
    p.add_argument("--config", type=Path, default=Path("frameworks.yaml"),
                   help="the frameworks file (default: ./frameworks.yaml)")
    p.add_argument("--results", type=Path, help="where results are kept (default: results/ beside the config)")
    p.add_argument("--html", type=Path, help="where the site is published (default: html/ beside the config)")
    p.add_argument("--cache", type=Path, help="mirrors, builds, SRS/ptau files (default: $ZKML_TRACKER_CACHE "
                   "or .zkml-cache/ beside the config)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.setup_arguments(sub)
    return p


def layout_for(args: argparse.Namespace, config_path: Path) -> Layout:
    root = config_path.resolve().parent
    cache = args.cache or Path(os.environ.get("ZKML_TRACKER_CACHE") or root / ".zkml-cache")
    return Layout(results=(args.results or root / "results").resolve(), html=(args.html or root / "html").resolve(),
                  cache=cache.resolve())


EXIT_OS_ERROR = 74  # EX_IOERR: a file or directory the tracker needs could not be read or written


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        config = load_config(args.config)
        layout = layout_for(args, args.config)
        check_arguments(config, args, layout.cache)
        return args.func(config, layout, args) or 0
    except (ConfigError, UsageError) as exc:
        print(f"zkml-tracker: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # read-only or full disk, permissions, a file where a directory should be
        print(f"zkml-tracker: {describe_os_error(exc)}", file=sys.stderr)
        return EXIT_OS_ERROR
    except KeyboardInterrupt:
        print("zkml-tracker: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
