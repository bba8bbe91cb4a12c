#!/usr/bin/env bash
# Networking, Berth vs Docker (dockerd with its bridge, iptables and docker-proxy):
#
#   sudo bench/network/run.sh [-n 10] [--mib 512] [--conns 500] [--lookups 300] [--no-docker]
#
# Ratios > 1 are better for Berth on throughput and connections, < 1 on times.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# shellcheck source=bench/lib.sh
. bench/lib.sh

extra=()
case " $* " in
    *" --no-docker "*) ;;
    *) command -v dockerd >/dev/null 2>&1 || extra+=(docker.io) ;;
esac
bench_setup "${extra[@]}" python3 iptables
bench_busybox_tar

exec python3 -B bench/network/bench.py --bin-dir "$BERTH_BIN_DIR" --tar "$bench_tar" "$@"
