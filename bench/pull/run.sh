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
repo="$PWD"
# shellcheck source=scripts/lib-deps.sh
. scripts/lib-deps.sh

if [ "$(id -u)" != 0 ]; then
    echo "bench: run as root" >&2
    exit 1
fi
berth_install_deps docker.io python3

if [ -z "${BERTH_BIN_DIR:-}" ]; then
    cargo build --release --bins
    BERTH_BIN_DIR="${CARGO_TARGET_DIR:-$repo/target}/release"
fi
cache="${CARGO_TARGET_DIR:-$repo/target}/berth-bench/pull-image"

exec python3 -B bench/pull/pull.py --bin-dir "$BERTH_BIN_DIR" --cache "$cache" "$@"
