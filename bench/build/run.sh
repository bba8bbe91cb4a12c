#!/usr/bin/env bash
# `docker build` side by side: Berth vs Docker's classic builder vs BuildKit.
#
#   sudo bench/build/run.sh [--cold-runs 3] [--noop-runs 5] [--change-runs 3]
#                           [--no-docker] [--no-buildkit]
#
# Builds the release binaries (unless BERTH_BIN_DIR is set), makes the busybox tarball,
# then bench/build/build.py generates the reference project (5,000 small files, ~50 MB,
# a multi-stage Dockerfile; cached in target/berth-bench/build-project/), starts its own
# berthd and its own dockerd on private sockets and roots (no bridge, no registry: the
# daemons get an unreachable loopback proxy so a pull attempt fails instead of leaving the
# machine), imports busybox:latest into both, times cold / no-op / one-file-change builds,
# prints a markdown table and cleans everything up.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# shellcheck source=bench/lib.sh
. bench/lib.sh

bench_setup docker.io python3
bench_busybox_tar

exec python3 -B bench/build/build.py --bin-dir "$BERTH_BIN_DIR" --tar "$bench_tar" \
    --project "$bench_target/berth-bench/build-project" "$@"
