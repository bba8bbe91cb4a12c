#!/usr/bin/env bash
# Berth vs Docker, side by side on this machine (no timed tests anywhere else).
#
#   sudo bench/run.sh [-n 20] [--containers 50] [--no-docker]
#
# Builds the release binaries (unless BERTH_BIN_DIR is set), makes the busybox tarball,
# then bench/bench.py starts its own berthd and its own Docker engine (Debian's dockerd on
# a private socket/data-root/exec-root with --bridge none --iptables=false and the
# containerd it manages), imports the same image into both, measures, prints a markdown
# table with medians and ratios, and cleans up both daemons, containers and mounts.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh

extra=()
case " $* " in
    *" --no-docker "*) ;;
    *) command -v dockerd >/dev/null 2>&1 || extra+=(docker.io) ;;
esac
bench_setup "${extra[@]}" python3
bench_busybox_tar

exec python3 -B bench/bench.py --bin-dir "$BERTH_BIN_DIR" --tar "$bench_tar" "$@"
