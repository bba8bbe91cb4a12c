#!/bin/sh
# Blob GET throughput: `berth registry serve` vs Debian's docker-registry (distribution
# 2.8), side by side on loopback, same blobs, N parallel keep-alive clients.
#
#   bench/registry/run.sh            # needs target/release/berth (cargo build --release -p berth)
#   SECONDS_PER_RUN=10 CLIENTS="1 8 32" BIG=8 BIG_MIB=32 SMALL=200 bench/registry/run.sh
#
# Prints a markdown table: MB/s for the large blobs, requests/s for the small ones,
# and each server's RSS (start of the run → peak during it).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
BERTH=${BERTH:-$repo_root/target/release/berth}
DREG=${DREG:-/usr/bin/docker-registry}
SECS=${SECONDS_PER_RUN:-8}
CLIENTS=${CLIENTS:-"1 8 32"}
BIG=${BIG:-8}
BIG_MIB=${BIG_MIB:-32}
SMALL=${SMALL:-200}
PORT_B=${PORT_B:-15101}
PORT_D=${PORT_D:-15102}

[ -x "$BERTH" ] || { echo "missing $BERTH: cargo build --release -p berth" >&2; exit 1; }
[ -x "$DREG" ] || { echo "missing $DREG (apt-get install docker-registry)" >&2; exit 1; }

work=$(mktemp -d /tmp/berth-regbench.XXXXXX)
pids=""
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    for p in $pids; do wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

cat > "$work/config.yml" <<YML
version: 0.1
log:
  level: info
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: $work/dreg
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$PORT_D
YML

"$BERTH" registry serve --addr "127.0.0.1:$PORT_B" --root "$work/berth" \
    >"$work/berth.out" 2>"$work/berth.log" &
pid_b=$!
pids="$pids $pid_b"
"$DREG" serve "$work/config.yml" >"$work/dreg.log" 2>&1 &
pid_d=$!
pids="$pids $pid_d"

wait_up() {
    i=0
    until python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$1/v2/')" 2>/dev/null; do
        i=$((i + 1))
        [ $i -lt 100 ] || { echo "server on port $1 did not start" >&2; exit 1; }
        sleep 0.1
    done
}
wait_up "$PORT_B"
wait_up "$PORT_D"

echo "pushing $BIG x $BIG_MIB MiB + $SMALL x 4 KiB blobs to both..." >&2
python3 "$here/blobget.py" push "http://127.0.0.1:$PORT_B" bench/blobs "$work/digests-b.json" \
    --big "$BIG" --big-mib "$BIG_MIB" --small "$SMALL"
# the same random data is not needed: sizes and counts match; each server gets its own
python3 "$here/blobget.py" push "http://127.0.0.1:$PORT_D" bench/blobs "$work/digests-d.json" \
    --big "$BIG" --big-mib "$BIG_MIB" --small "$SMALL"
# warm the page cache for both
cat "$work"/berth/blobs/sha256/* "$work"/dreg/docker/registry/v2/blobs/sha256/*/*/data >/dev/null

field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }
ratio() { python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print(f'{a/b:.2f}' if b else 'n/a')" "$1" "$2"; }

echo
echo "| test | clients | berth | docker-registry | ratio | berth RSS MiB (start→peak) | docker-registry RSS MiB (start→peak) |"
echo "|---|---|---|---|---|---|---|"
for kind in big small; do
    flag=""
    unit="MB/s"
    metric=mbps
    label="GET ${BIG_MIB} MiB blobs"
    if [ "$kind" = small ]; then flag="--small"; unit="req/s"; metric=rps; label="GET 4 KiB blobs"; fi
    for c in $CLIENTS; do
        rb=$(python3 "$here/blobget.py" get "http://127.0.0.1:$PORT_B" bench/blobs "$work/digests-b.json" \
            --clients "$c" --seconds "$SECS" --pid "$pid_b" $flag)
        rd=$(python3 "$here/blobget.py" get "http://127.0.0.1:$PORT_D" bench/blobs "$work/digests-d.json" \
            --clients "$c" --seconds "$SECS" --pid "$pid_d" $flag)
        for r in "$rb" "$rd"; do
            e=$(field "$r" errors)
            [ "$e" = "[]" ] || echo "client errors: $e" >&2
        done
        vb=$(field "$rb" $metric)
        vd=$(field "$rd" $metric)
        mb() { python3 -c "import sys; print(f'{int(sys.argv[1])/1024:.1f}')" "$1"; }
        echo "| $label ($unit) | $c | $vb | $vd | $(ratio "$vb" "$vd") | $(mb "$(field "$rb" rss_start_kb)")→$(mb "$(field "$rb" rss_max_kb)") | $(mb "$(field "$rd" rss_start_kb)")→$(mb "$(field "$rd" rss_max_kb)") |"
    done
done
echo
echo "ratio = berth / docker-registry (higher is better for berth); $SECS s per cell; $(nproc) CPUs shared by servers and clients." 
