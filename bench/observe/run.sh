#!/usr/bin/env bash
# Observing containers, Berth vs Docker (issue 13): `docker stats --no-stream` over N
# running containers, the daemon's CPU while `docker stats` streams them, and event
# delivery latency (action → event at a subscribed client), median and p99.
#
#   sudo bench/observe/run.sh [--containers 20] [--events 200] [--stream-seconds 10] [--no-docker]
#
# Builds the release binaries (unless BERTH_BIN_DIR is set), then bench/observe/observe.py
# starts its own berthd (and Debian's dockerd on a private socket and roots, when
# installed), imports busybox into both, measures and prints a markdown table.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# shellcheck source=bench/lib.sh
. bench/lib.sh

extra=()
command -v docker >/dev/null 2>&1 || extra+=(docker.io)   # the docker CLI drives both
bench_setup "${extra[@]}" python3
bench_busybox_tar

exec python3 -B bench/observe/observe.py --bin-dir "$BERTH_BIN_DIR" --tar "$bench_tar" "$@"
