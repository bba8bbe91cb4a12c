#!/usr/bin/env bash
# Pull/push throughput, Berth vs Docker, side by side on loopback.
#
#   sudo bench/pull/run.sh [--runs 3] [--no-docker] [--no-berth]
#
# Builds the release binaries (unless BERTH_BIN_DIR is set), then bench/pull/pull.py
# generates a deterministic 10-layer image (5 compressible + 5 random layers, ~200 MB
# uncompressed; cached in target/berth-bench/pull-image/), serves it from a
# `berth registry serve` on 127.0.0.1, starts its own berthd and its own dockerd on
# private sockets and roots, times `pull` and `push` (to a fresh registry each run) with
# both engines, prints a markdown table with medians and ratios, and cleans everything up.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# shellcheck source=bench/lib.sh
. bench/lib.sh

bench_setup docker.io python3
cache="$bench_target/berth-bench/pull-image"

exec python3 -B bench/pull/pull.py --bin-dir "$BERTH_BIN_DIR" --cache "$cache" "$@"
