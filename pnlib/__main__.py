"""``python -m pnlib check-data --profile P NOTEBOOK...``: what ``make run`` does before it trains."""

import argparse
import sys

from pnlib.notebooks import check

cli = argparse.ArgumentParser(prog="python -m pnlib", description=check.__doc__)
cli.add_argument("command", choices=["check-data"])
cli.add_argument("--profile", required=True, help="the profile make run will use")
cli.add_argument("notebooks", nargs="*", help="the notebooks make run will execute")
args = cli.parse_intermixed_args()
sys.exit(check(args.profile, args.notebooks))
