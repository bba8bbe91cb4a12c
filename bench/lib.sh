# Shared set-up of the bench/*/run.sh wrappers (sourced from the repository root).
#
#   bench_setup PKG...   root check, Debian packages PKG..., and the release binaries:
#                        sets BERTH_BIN_DIR (built unless already set) and bench_target
#   bench_busybox_tar    makes the busybox rootfs tarball; sets bench_tar to its path

# shellcheck source=scripts/lib-deps.sh
. scripts/lib-deps.sh

bench_setup() {
    if [ "$(id -u)" != 0 ]; then
        echo "bench: run as root" >&2
        exit 1
    fi
    berth_install_deps "$@"
    bench_target="${CARGO_TARGET_DIR:-$PWD/target}"
    if [ -z "${BERTH_BIN_DIR:-}" ]; then
        cargo build --release --bins
        BERTH_BIN_DIR="$bench_target/release"
    fi
}

bench_busybox_tar() {
    bench_tar="$bench_target/berth-test-fixtures/busybox.tar"
    mkdir -p "$(dirname "$bench_tar")"
    bash scripts/make-busybox-image.sh --tar-only --output "$bench_tar" >/dev/null
}
