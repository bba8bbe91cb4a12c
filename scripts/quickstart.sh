#!/usr/bin/env bash
# Berth quickstart on a fresh Debian machine, as root:
#   installs the build/run dependencies, builds Berth (release), starts berthd in the
#   background on /run/berth/berth.sock (unless one already answers), makes the
#   busybox:latest image from Debian's busybox-static (no internet needed) and runs
#   `berth run --rm busybox echo hello`.
#
# Usage: scripts/quickstart.sh   (as root, or as a user with sudo: it re-runs itself through sudo)
# Env:   BERTH_HOST (default unix:///run/berth/berth.sock), BERTHD_LOG (default /var/log/berthd.log),
#        BERTH_DATA_ROOT / BERTH_EXEC_ROOT / BERTH_BRIDGE: passed to berthd as
#        --data-root / --exec-root / --bridge when set (defaults: berthd's own);
#        BERTH_BIN_DIR: use the berthd/berth-shim/berth binaries there instead of building.
set -euo pipefail

self="$(realpath "${BASH_SOURCE[0]}")"
cd "$(dirname "$self")/.."
repo="$PWD"
# shellcheck source=scripts/lib-deps.sh
. scripts/lib-deps.sh

berth_as_root "$self" "$@"
if ! command -v cargo >/dev/null 2>&1; then
    echo "quickstart: cargo not found: install Rust (https://rustup.rs) first" >&2
    exit 1
fi

echo "==> installing Debian packages (if missing)"
berth_install_deps

if [ -n "${BERTH_BIN_DIR:-}" ]; then
    bin="$BERTH_BIN_DIR"   # prebuilt binaries: skip the build
else
    echo "==> cargo build --release"
    cargo build --release --bins
    bin="${CARGO_TARGET_DIR:-$repo/target}/release"
fi
for b in berthd berth-shim berth; do
    # berthd runs the berth-shim beside it for every container.
    if [ ! -x "$bin/$b" ]; then
        echo "quickstart: $bin/$b is missing (cargo build --release --bins makes all three)" >&2
        exit 1
    fi
done
export BERTH_HOST="${BERTH_HOST:-unix:///run/berth/berth.sock}"
berth=("$bin/berth" -H "$BERTH_HOST")

if "${berth[@]}" version >/dev/null 2>&1; then
    echo "==> berthd already answers on $BERTH_HOST"
else
    log="${BERTHD_LOG:-/var/log/berthd.log}"
    mkdir -p "$(dirname "$log")"
    echo "==> starting berthd (log: $log)"
    daemon_args=(-H "$BERTH_HOST" --log-level info)
    [ -n "${BERTH_DATA_ROOT:-}" ] && daemon_args+=(--data-root "$BERTH_DATA_ROOT")
    [ -n "${BERTH_EXEC_ROOT:-}" ] && daemon_args+=(--exec-root "$BERTH_EXEC_ROOT")
    [ -n "${BERTH_BRIDGE:-}" ] && daemon_args+=(--bridge "$BERTH_BRIDGE")
    nohup "$bin/berthd" "${daemon_args[@]}" >>"$log" 2>&1 </dev/null &
    pid=$!
    for _ in $(seq 1 300); do
        if "${berth[@]}" version >/dev/null 2>&1; then
            break
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "quickstart: berthd exited; last log lines:" >&2
            tail -n 30 "$log" >&2
            exit 1
        fi
        sleep 0.1
    done
    if ! "${berth[@]}" version >/dev/null 2>&1; then
        echo "quickstart: berthd did not answer within 30 s; see $log" >&2
        exit 1
    fi
    echo "    berthd pid $pid"
fi

if "${berth[@]}" image inspect busybox:latest >/dev/null 2>&1; then
    echo "==> busybox:latest already present"
else
    echo "==> making busybox:latest from Debian's busybox-static"
    BERTH_CLI="$bin/berth" scripts/make-busybox-image.sh -H "$BERTH_HOST"
fi

echo "==> berth run --rm busybox echo hello"
"${berth[@]}" run --rm busybox echo hello
