#!/usr/bin/env bash
# Make a `busybox:latest` image without internet access, from Debian's busybox-static.
#
# Usage:
#   scripts/make-busybox-image.sh [--output FILE] [--tar-only] [-H unix:///path/berth.sock] [--tag REF]
#
#   --output FILE   where to write the rootfs tarball (default: a temp file, removed
#                   after import unless --tar-only or --output was given)
#   --tar-only      only write the tarball; do not import it
#   -H, --host URL  daemon address passed to the CLI (default: $BERTH_HOST, or the CLI's default)
#   --tag REF       image reference to import as (default: busybox:latest)
#
# Environment:
#   BERTH_CLI   CLI used for the import (default: `berth` next to this repo's
#               target/release, then target/debug, then on PATH). Any docker-compatible
#               CLI works (e.g. BERTH_CLI=docker).
#   BERTH_HOST  daemon address (unix:///run/berth/berth.sock by default in the CLI).
#
# The tarball is deterministic (sorted entries, owner 0:0, fixed mtime), so repeated runs
# give byte-identical archives and therefore the same layer digest.
set -euo pipefail

output=""
tar_only=0
host="${BERTH_HOST:-}"
tag="busybox:latest"

while [ $# -gt 0 ]; do
    case "$1" in
        --output|-o) output="$2"; shift 2 ;;
        --output=*) output="${1#*=}"; shift ;;
        --tar-only) tar_only=1; shift ;;
        -H|--host) host="$2"; shift 2 ;;
        --host=*) host="${1#*=}"; shift ;;
        --tag) tag="$2"; shift 2 ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "make-busybox-image: unknown argument: $1" >&2; exit 2 ;;
    esac
done

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$script_dir/.." && pwd)"

busybox_bin=""
for candidate in /bin/busybox /usr/bin/busybox; do
    if [ -x "$candidate" ] && "$candidate" --list >/dev/null 2>&1; then
        # Only a static busybox works inside an image with no libc.
        if ! file_out="$(LC_ALL=C ldd "$candidate" 2>&1)" || echo "$file_out" | grep -q "not a dynamic executable"; then
            busybox_bin="$candidate"
            break
        fi
    fi
done
if [ -z "$busybox_bin" ]; then
    echo "make-busybox-image: installing busybox-static" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq busybox-static >/dev/null
    busybox_bin=/bin/busybox
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/busybox-image.XXXXXX")"
cleanup() { rm -rf "$work"; }
trap cleanup EXIT

root="$work/rootfs"
mkdir -p "$root"/{bin,dev,etc,home,proc,root,sys,tmp,usr/bin,usr/sbin,var/spool/mail,var/www}
cp "$busybox_bin" "$root/bin/busybox"
chmod 0755 "$root/bin/busybox"
"$busybox_bin" --list | LC_ALL=C sort -u | while IFS= read -r applet; do
    case "$applet" in
        ""|busybox|*/*) continue ;;
    esac
    ln -s busybox "$root/bin/$applet"
done

cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
lp:x:7:
mail:x:8:
kmem:x:9:
wheel:x:10:root
cdrom:x:11:
dialout:x:18:
floppy:x:19:
video:x:28:
audio:x:29:
tape:x:32:
www-data:x:33:
operator:x:37:
utmp:x:43:
plugdev:x:46:
staff:x:50:
lock:x:54:
netdev:x:82:
users:x:100:
nobody:x:65534:
EOF
cat >"$root/etc/shadow" <<'EOF'
root:*:10933:0:99999:7:::
daemon:*:10933:0:99999:7:::
bin:*:10933:0:99999:7:::
sys:*:10933:0:99999:7:::
sync:*:10933:0:99999:7:::
mail:*:10933:0:99999:7:::
www-data:*:10933:0:99999:7:::
operator:*:10933:0:99999:7:::
nobody:*:10933:0:99999:7:::
EOF

find "$root" -type d -exec chmod 0755 {} +
chmod 0644 "$root/etc/passwd" "$root/etc/group"
chmod 0600 "$root/etc/shadow"
chmod 1777 "$root/tmp"
chmod 0700 "$root/root"

if [ -z "$output" ]; then
    if [ "$tar_only" = 1 ]; then
        output="$PWD/busybox.tar"
    else
        output="$work/busybox.tar"
    fi
fi
mkdir -p "$(dirname "$output")"
tmp_out="$output.tmp.$$"
(
    cd "$root"
    # Top-level entries without a "./" prefix, like `docker export`.
    LC_ALL=C tar --sort=name --owner=0 --group=0 --numeric-owner --mtime='@0' \
        --format=gnu -cf "$tmp_out" -- *
)
mv -f "$tmp_out" "$output"

if [ "$tar_only" = 1 ]; then
    echo "$output"
    exit 0
fi

cli="${BERTH_CLI:-}"
if [ -z "$cli" ]; then
    if [ -x "$repo_root/target/release/berth" ]; then
        cli="$repo_root/target/release/berth"
    elif [ -x "$repo_root/target/debug/berth" ]; then
        cli="$repo_root/target/debug/berth"
    else
        cli="berth"
    fi
fi
host_args=()
if [ -n "$host" ]; then
    host_args=(-H "$host")
fi
"$cli" "${host_args[@]}" import --change 'CMD ["sh"]' "$output" "$tag"
