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
repo="$PWD"
# shellcheck source=scripts/lib-deps.sh
. scripts/lib-deps.sh

if [ "$(id -u)" != 0 ]; then
    echo "bench: run as root" >&2
    exit 1
fi
extra=()
case " $* " in
    *" --no-docker "*) ;;
    *) command -v dockerd >/dev/null 2>&1 || extra+=(docker.io) ;;
esac
berth_install_deps "${extra[@]}" python3

if [ -z "${BERTH_BIN_DIR:-}" ]; then
    cargo build --release --bins
    BERTH_BIN_DIR="${CARGO_TARGET_DIR:-$repo/target}/release"
fi
tar="${CARGO_TARGET_DIR:-$repo/target}/berth-test-fixtures/busybox.tar"
mkdir -p "$(dirname "$tar")"
bash scripts/make-busybox-image.sh --tar-only --output "$tar" >/dev/null

exec python3 -B bench/bench.py --bin-dir "$BERTH_BIN_DIR" --tar "$tar" "$@"
