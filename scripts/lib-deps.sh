# Shared by quickstart.sh, test.sh and the bench/ wrappers (via bench/lib.sh): install the Debian packages Berth
# needs to build and run, only when something is missing (no apt call otherwise).
# Usage: source scripts/lib-deps.sh; berth_install_deps [extra packages...]
#        berth_as_root SCRIPT [ARGS...]   (re-runs SCRIPT as root through sudo)

# Berth's scripts run as root (berthd manages namespaces, cgroups and bridges). Run by
# another user, they re-run themselves through sudo, keeping that user's Rust
# toolchain (PATH, CARGO_HOME, RUSTUP_HOME: sudo would reset them). A root shell
# needs no sudo (a fresh Debian root shell has none).
berth_as_root() {
    local script="$1"
    shift
    if [ "$(id -u)" = 0 ]; then
        return 0
    fi
    if ! command -v sudo >/dev/null 2>&1; then
        echo "$(basename "$script"): run as root (sudo is not installed)" >&2
        exit 1
    fi
    echo "==> not root: re-running through sudo" >&2
    exec sudo env "PATH=$PATH" "CARGO_HOME=${CARGO_HOME:-$HOME/.cargo}" \
        "RUSTUP_HOME=${RUSTUP_HOME:-$HOME/.rustup}" "$script" "$@"
}

berth_install_deps() {
    local pkgs=(pkg-config libseccomp-dev busybox-static nftables runc iproute2 tini procps gcc libc6-dev "$@")
    local missing=()
    local p
    for p in "${pkgs[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$p")
        fi
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        return 0
    fi
    if [ "$(id -u)" != 0 ]; then
        echo "missing Debian packages: ${missing[*]} (run as root to install them)" >&2
        return 1
    fi
    echo "==> apt-get install ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
