#!/usr/bin/env bash
# `run --rm -v vol:/data busybox true` with an existing volume vs the same run
# without a volume, Berth and Docker side by side (issue 12's target: within 10%).
#
#   sudo bench/volumes/run.sh [-n 30] [--no-docker]
#
# Builds the release binaries (unless BERTH_BIN_DIR is set) and the busybox tarball;
# bench/volumes/volumes.py starts its own berthd (and its own dockerd when installed)
# on private sockets and roots, imports busybox into both, times both runs in
# alternation, prints a markdown table with medians and ratios, and cleans up.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# shellcheck source=bench/lib.sh
. bench/lib.sh

bench_setup python3
bench_busybox_tar

exec python3 -B bench/volumes/volumes.py --bin-dir "$BERTH_BIN_DIR" --tar "$bench_tar" "$@"
