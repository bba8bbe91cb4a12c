#!/usr/bin/env bash
# berthd's idle memory before and after a burst of API traffic (issue 10).
#
#   sudo bench/memory/run.sh [--containers 200] [--builds 20] [--pushes 10]
#                            [--malformed 300] [--rounds 3] [--settle 30] [--max-idle-mb 25]
#
# Builds the release binaries (unless BERTH_BIN_DIR is set), then bench/memory/memory.py
# starts its own berthd (private socket, temporary roots, its own bridge) and a
# `berth registry serve` on 127.0.0.1, records the idle RSS, runs container
# create/start/rm, builds, pushes and pulls against that registry and malformed requests
# (loopback and the daemon's unix socket only), waits until the daemon is idle and
# prints VmRSS / RssAnon / RssFile before and after as a markdown table.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# shellcheck source=bench/lib.sh
. bench/lib.sh

extra=()
command -v docker >/dev/null 2>&1 || extra+=(docker.io)   # the docker CLI drives builds/pushes
bench_setup "${extra[@]}" python3
bench_busybox_tar

exec python3 -B bench/memory/memory.py --bin-dir "$BERTH_BIN_DIR" --tar "$bench_tar" "$@"
