"""``python -m pnlib check-data --profile P NOTEBOOK...``: what ``make run`` does before it trains;
``python -m pnlib readme [--check]``: the result tables of README.md and docs/*.md from the result files."""

import argparse
import sys
from pathlib import Path

cli = argparse.ArgumentParser(prog="python -m pnlib")
cli.add_argument("command", choices=["check-data", "readme"])
cli.add_argument("--profile", help="check-data: the profile make run will use")
cli.add_argument("--check", action="store_true", help="readme: only report the blocks that differ")
cli.add_argument("notebooks", nargs="*", help="check-data: the notebooks make run will execute")
args = cli.parse_intermixed_args()
if args.command == "readme":
    from pnlib.report import readme

    changed = [
        f"{page}: {block}"
        for page in readme.pages(Path("."))
        for block in readme.update(page, check=args.check)
    ]
    print(f"result blocks {'that differ' if args.check else 'rewritten'}: {changed or 'none'}")
    sys.exit(1 if args.check and changed else 0)
if not args.profile:
    cli.error("check-data needs --profile")
from pnlib.notebooks import check  # noqa: E402

sys.exit(check(args.profile, args.notebooks))
