#!/usr/bin/env bash
# Every benchmark, one after the other, on the default device (CUDA when present), each
# writing OUT/<name>.json; a failing one does not stop the others (exit 1 at the end).
#   bash bench/suite.sh [OUT] [extra options for every script, e.g. --device cpu]
# OUT defaults to the scripts' own (asdbench-results/bench, or $ASDBENCH_RESULTS/bench);
# `bash bench/suite.sh results/bench` publishes beside the committed records.
set -uo pipefail
out_args=()
if [ $# -gt 0 ]; then
  out_args=(--out "$1")
  shift
fi
py=${PYTHON:-python}
status=0
for bench in "train_throughput --compile" "data" "inference" "memory" "schedule"; do
  echo "== bench.$bench"
  # shellcheck disable=SC2086  # the word splitting of $bench is wanted
  PYTHONUNBUFFERED=1 $py -m bench.$bench "${out_args[@]}" "$@" || status=1
done
exit $status
