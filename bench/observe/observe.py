#!/usr/bin/env python3
"""`docker stats` and `docker events`, Berth and dockerd side by side.

Started by bench/observe/run.sh. For each engine (bench/bench.py's Engine: private
socket and roots; dockerd only when installed and without --no-docker):

1. starts N detached `busybox sleep` containers (--network none);
2. times `docker stats --no-stream` over all of them (median of --rounds);
3. streams `docker stats` for --stream-seconds and measures the CPU time of the daemon
   (dockerd: + containerd) over that window;
4. subscribes to `GET /events` on the daemon's unix socket and, --events times, sends
   `POST /containers/<id>/kill?signal=WINCH` (ignored by sleep) and measures the time
   from sending the request to the `kill` event arriving; prints median and p99;
5. removes everything and stops the daemons.
"""

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
import bench as common  # noqa: E402  (bench/bench.py: Engine, med, fmt_s, ratio)


def log(msg):
    print(f"[bench-observe] {msg}", file=sys.stderr, flush=True)


def cpu_ticks(pid):
    """utime + stime of a process, in clock ticks."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return 0


def http(sock_path, method, path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(sock_path)
    s.sendall(f"{method} {path} HTTP/1.0\r\nHost: d\r\n\r\n".encode())
    while s.recv(65536):
        pass
    s.close()


def p99(xs):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * 0.99))]


def event_latency(e, cid, n):
    sub = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sub.settimeout(10)
    sub.connect(e.sock)
    flt = json.dumps({"event": ["kill"], "container": [cid]})
    q = "filters=" + "".join(c if c.isalnum() else "%%%02X" % ord(c) for c in flt)
    sub.sendall(f"GET /events?{q} HTTP/1.1\r\nHost: d\r\n\r\n".encode())
    buf = b""
    time.sleep(0.3)
    lat = []
    for _ in range(n):
        t0 = time.perf_counter()
        http(e.sock, "POST", f"/containers/{cid}/kill?signal=WINCH")
        while b'"kill"' not in buf:
            chunk = sub.recv(65536)
            if not chunk:
                raise RuntimeError("the event stream ended")
            buf += chunk
        lat.append(time.perf_counter() - t0)
        # Drop everything up to the end of the line carrying this event.
        i = buf.index(b'"kill"')
        j = buf.find(b"\n", i)
        while j < 0:
            buf += sub.recv(65536)
            j = buf.find(b"\n", i)
        buf = buf[j + 1:]
    sub.close()
    return lat


def measure(k, e, args, results):
    m = args.containers
    log(f"{k}: starting {m} containers")
    ids = []
    for i in range(m):
        ids.append(e.run("docker", "run", "-d", "--network", "none", "--name", f"o{i}",
                         "busybox", "sleep", "100000").stdout.strip())
    time.sleep(1)
    log(f"{k}: stats --no-stream x{args.rounds}")
    times = []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        r = e.run("docker", "stats", "--no-stream", "--format", "{{.Name}} {{.CPUPerc}}")
        times.append(time.perf_counter() - t0)
        rows = len([line for line in r.stdout.splitlines() if line.strip()])
        if rows != m:
            raise RuntimeError(f"{k}: stats --no-stream listed {rows} of {m}: {r.stdout}")
    results[(k, "stats_no_stream")] = common.med(times)
    log(f"{k}: streaming docker stats for {args.stream_seconds}s")
    proc = subprocess.Popen(e.cli("docker") + ["stats", "--format", "{{.Name}} {{.CPUPerc}}"],
                            env=e.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(2)
    pids = e.daemon_pids()
    before = sum(cpu_ticks(p) for p in pids)
    time.sleep(args.stream_seconds)
    after = sum(cpu_ticks(p) for p in pids)
    proc.terminate()
    proc.wait()
    hz = os.sysconf("SC_CLK_TCK")
    results[(k, "stats_cpu")] = (after - before) / hz / args.stream_seconds * 100.0
    log(f"{k}: event latency x{args.events}")
    lat = event_latency(e, ids[0], args.events)
    results[(k, "event_med")] = common.med(lat)
    results[(k, "event_p99")] = p99(lat)
    e.run("docker", "rm", "-f", *ids, check=False)


def fmt_ms(x):
    return "n/a" if x is None else f"{x * 1000:.2f} ms"


def fmt_pct(x):
    return "n/a" if x is None else f"{x:.1f} %"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--tar", required=True)
    ap.add_argument("--containers", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--events", type=int, default=200)
    ap.add_argument("--stream-seconds", type=int, default=10)
    ap.add_argument("--no-docker", action="store_true")
    args = ap.parse_args()

    engines = {"berth": common.Engine("berth", args.bin_dir)}
    if not args.no_docker:
        if shutil.which("dockerd") is None:
            log("dockerd not found: Docker columns will be n/a")
        else:
            engines["docker"] = common.Engine("docker", args.bin_dir)
    results = {}
    try:
        for k, e in engines.items():
            log(f"starting {k} daemon in {e.dir}")
            e.start()
            e.run("docker", "import", "--change", 'CMD ["sh"]', args.tar, "busybox:latest")
            try:
                measure(k, e, args, results)
            except Exception as exc:  # one broken engine must not hide the other's numbers
                log(f"{k}: FAILED: {exc}")
    finally:
        for e in engines.values():
            e.cleanup()

    def row(name, key, fmt):
        b, d = results.get(("berth", key)), results.get(("docker", key))
        print(f"| {name} | {fmt(b)} | {fmt(d)} | {common.ratio(b, d)} |")

    print(f"\n{args.containers} running containers\n")
    print("| measure | Berth | Docker | Berth / Docker |")
    print("| --- | --- | --- | --- |")
    row("`docker stats --no-stream`", "stats_no_stream",
        lambda x: "n/a" if x is None else common.fmt_s(x))
    row("daemon CPU while `docker stats` streams", "stats_cpu", fmt_pct)
    row("event latency, median", "event_med", fmt_ms)
    row("event latency, p99", "event_p99", fmt_ms)


if __name__ == "__main__":
    main()
