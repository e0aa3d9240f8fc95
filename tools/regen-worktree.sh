#!/usr/bin/env bash
# Regenerate results from a clean tree while you keep editing this checkout: a detached git
# worktree of HEAD (at $WORKTREE, default ../pnlib-regen), this checkout's .venv, and what `make run`
# does for the notebooks given (default: all), profile $PROFILE (default cpu). With FRESH=1 the
# committed results of those notebooks (results/NN_*) are deleted first, so nothing is reused from
# cached parts and every number comes from this machine in this run. PYTHONPATH points
# the editable install at the worktree, so the results record HEAD's commit, never "+dirty".
# Afterwards copy results/ and reports/ back, e.g. rsync -a --delete "$WORKTREE/results/02_bad_minima/" results/02_bad_minima/
set -euo pipefail
root=$(git rev-parse --show-toplevel)
wt=${WORKTREE:-$root/../pnlib-regen}
profile=${PROFILE:-cpu}
git -C "$root" worktree remove --force "$wt" 2>/dev/null || true
git -C "$root" worktree add --detach "$wt" HEAD
ln -s "$root/.venv" "$wt/.venv"
cd "$wt"
export PYTHONPATH="$wt"
notebooks=("$@")
[ ${#notebooks[@]} -gt 0 ] || notebooks=(notebooks/*.ipynb)
if [ "${FRESH:-0}" = 1 ]; then
  for nb in "${notebooks[@]}"; do n=$(basename "$nb"); rm -rf results/"${n:0:2}"_*; done
fi
.venv/bin/python -m pnlib check-data --profile "$profile" "${notebooks[@]}"
mkdir -p reports
for nb in "${notebooks[@]}"; do
  echo "== $nb (profile $profile) $(date -u +%FT%TZ)"
  .venv/bin/papermill --kernel python3 --cwd notebooks -p profile "$profile" "$nb" "reports/$(basename "$nb")"
done
echo "done $(date -u +%FT%TZ) in $wt at $(git rev-parse --short HEAD)"
