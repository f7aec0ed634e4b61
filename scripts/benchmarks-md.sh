#!/usr/bin/env bash
# Regenerates BENCHMARKS.md: the summary (bench/results/summary.md) followed by each area's results.
set -euo pipefail
cd "$(dirname "$0")/.."
{
  cat bench/results/summary.md
  for area in platform vm images formfile auth control-plane deploy formnet multinode faults fault-matrix soak relay ingress statestore chain terminal ui cli agent; do
    file="bench/results/$area.md"
    [ -f "$file" ] || continue
    printf '\n---\n\n<!-- from %s -->\n' "$file"
    sed 's/^# /## /' "$file"
  done
} > BENCHMARKS.md
