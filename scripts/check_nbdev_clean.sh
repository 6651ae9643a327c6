#!/usr/bin/env bash
# nbdev hygiene: exporting must not change vitlab/ (library in sync with the notebooks) and cleaning must not change
# nbs/ (notebooks committed clean). Works on a dirty tree too: it compares the tree before and after.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
snap() { git status --porcelain -- vitlab nbs; git diff -- vitlab nbs | md5sum; }
before=$(snap)
.venv/bin/nbdev_export
after_export=$(snap)
.venv/bin/nbdev_clean
after_clean=$(snap)
if [ "$before" != "$after_export" ]; then
  echo "FAIL: nbdev_export changed vitlab/ — edit the notebooks, run nbdev_export, and commit both"; git status --short -- vitlab; exit 1; fi
if [ "$after_export" != "$after_clean" ]; then
  echo "FAIL: nbdev_clean changed nbs/ — run nbdev_clean before committing"; git status --short -- nbs; exit 1; fi
echo "nbdev hygiene: library in sync with notebooks, notebooks clean"
.venv/bin/python scripts/make_readme.py --check
