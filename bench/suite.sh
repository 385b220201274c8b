#!/usr/bin/env bash
# Every benchmark, one after the other, on the default device (CUDA when present), each
# writing OUT/<name>.json; a failing one does not stop the others (exit 1 at the end).
#   bash bench/suite.sh [OUT] [extra options for every script, e.g. --device cpu]
set -uo pipefail
out=${1:-results/bench}
shift || true
py=${PYTHON:-python}
status=0
for bench in "train_throughput --compile" "data" "inference" "memory" "schedule"; do
  echo "== bench.$bench"
  # shellcheck disable=SC2086  # the word splitting of $bench is wanted
  PYTHONUNBUFFERED=1 $py -m bench.$bench --out "$out" "$@" || status=1
done
exit $status
