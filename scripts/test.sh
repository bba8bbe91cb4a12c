#!/usr/bin/env bash
# Run every check and test of Berth, as CI does (`.ci/run` calls this):
#   1. cargo fmt --check and clippy -D warnings (fail fast)
#   2. cargo build --release --bins  (the end-to-end tests drive these binaries)
#   3. all tests of the workspace in release mode, 2 at a time; the end-to-end tests in
#      tests/integration start their own berthd per test (root needed; they skip otherwise)
#
# Usage: scripts/test.sh [extra args for cargo nextest / cargo test]
#        (as root, or as a user with sudo: it re-runs itself through sudo)
# Env:   BERTH_TEST_JOBS (default 2), SKIP_LINT=1 to skip fmt/clippy.
set -euo pipefail

self="$(realpath "${BASH_SOURCE[0]}")"
cd "$(dirname "$self")/.."
repo="$PWD"
# shellcheck source=scripts/lib-deps.sh
. scripts/lib-deps.sh

if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then
    berth_as_root "$self" "$@"
elif [ "$(id -u)" != 0 ]; then
    echo "warning: not root and no sudo: the end-to-end tests will skip themselves" >&2
fi
# Interop tests also need the real tools users have: skopeo, Debian's dockerd 20.10 and
# docker CLI (docker.io), the reference registry (docker-registry), htpasswd and the
# Python docker-compose 1.29.
berth_install_deps skopeo docker.io docker-registry apache2-utils docker-compose

jobs="${BERTH_TEST_JOBS:-2}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
start=$(date +%s)
step() { echo "==> [$(( $(date +%s) - start ))s] $*" >&2; }

if [ "${SKIP_LINT:-0}" != 1 ]; then
    step "cargo fmt --all --check"
    cargo fmt --all --check
    step "cargo clippy --workspace --all-targets -- -D warnings"
    cargo clippy --workspace --all-targets -- -D warnings
fi

step "cargo build --release --bins"
cargo build --release --bins -j "$(nproc)"

target_dir="${CARGO_TARGET_DIR:-$repo/target}"
export BERTH_BIN_DIR="$target_dir/release"
export BERTH_TEST_FIXTURES="$target_dir/berth-test-fixtures"
mkdir -p "$BERTH_TEST_FIXTURES"
# Build the fixture image once, before tests run in parallel.
bash scripts/make-busybox-image.sh --tar-only --output "$BERTH_TEST_FIXTURES/busybox.tar" >/dev/null

status=0
if cargo nextest --version >/dev/null 2>&1; then
    step "cargo nextest run --release --workspace -j $jobs"
    cargo nextest run --release --workspace --no-fail-fast -j "$jobs" \
        --config-file scripts/nextest.toml "$@" || status=$?
else
    step "cargo test --release --workspace (test threads: $jobs)"
    RUST_TEST_THREADS="$jobs" cargo test --release --workspace --no-fail-fast "$@" || status=$?
fi

# A failed test must not leave daemons, mounts or bridges behind (the harness cleans up
# on drop; this is the belt to those braces for a test binary killed by a timeout).
leftover=$(grep -c ' /tmp/bt-' /proc/self/mountinfo || true)
if [ "${leftover:-0}" != 0 ]; then
    echo "warning: $leftover mounts left under /tmp/bt-*" >&2
fi

step "done (exit $status)"
exit "$status"
