#!/usr/bin/env python3
"""Networking, Berth vs Docker side by side (issue: networking targets).

Starts its own berthd (own bridge and subnet) and its own dockerd with a bridge
(`--bip` on a subnet of its own, iptables on, docker-proxy for loopback as Docker
ships it), imports the same busybox image into both, and measures with the docker CLI
against each:
  - TCP throughput host loopback -> published port -> container (nc sink);
  - short connections per second through a published port (busybox httpd);
  - `run --rm` on a user network with one published port;
  - `network create` + `connect` + `disconnect` + `rm` with a running container;
  - name lookups of another container from inside a container (busybox nslookup,
    process start included on both sides).
Prints a markdown table with medians and ratios; removes both daemons, their
bridges, nftables tables and Docker's iptables chains afterwards. Traffic goes to
loopback and to the engines' own bridges only.
"""

import argparse
import os
import secrets
import socket
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import bench  # noqa: E402  (bench/bench.py: Engine, log, ratio)


class NetEngine(bench.Engine):
    """An engine with its default bridge and NAT on (dockerd: docker0, iptables)."""

    def __init__(self, kind, bin_dir):
        super().__init__(kind, bin_dir)
        if kind == "docker":
            routes = subprocess.run(["ip", "-4", "route", "show", "table", "all"],
                                    capture_output=True, text=True).stdout
            for _ in range(50):
                o = secrets.randbelow(250) + 2
                if f"10.216.{o}." not in routes:
                    break
            self.bip = f"10.216.{o}.1/24"

    def daemon_argv(self):
        if self.kind == "berth":
            return super().daemon_argv()
        return ["dockerd", "--host", self.host, "--data-root", self.data,
                "--exec-root", self.exec_root, "--pidfile", os.path.join(self.dir, "docker.pid"),
                "--bip", self.bip, "--log-level", "warn"]

    def stop(self):
        super().stop()
        if self.kind == "docker":
            docker_iptables_cleanup()


def docker_iptables_cleanup():
    """Removes docker0 and the chains dockerd installed (it leaves them behind)."""
    subprocess.run(["ip", "link", "del", "docker0"], capture_output=True)
    for table in ("filter", "nat"):
        rules = subprocess.run(["iptables", "-t", table, "-S"], capture_output=True,
                               text=True).stdout.splitlines()
        for r in rules:
            if r.startswith("-A ") and "DOCKER" in r:
                subprocess.run(["iptables", "-t", table, "-D"] + r.split()[1:],
                               capture_output=True)
        for r in rules:
            if r.startswith("-N DOCKER"):
                subprocess.run(["iptables", "-t", table, "-F", r.split()[1]], capture_output=True)
        for r in rules:
            if r.startswith("-N DOCKER"):
                subprocess.run(["iptables", "-t", table, "-X", r.split()[1]], capture_output=True)
    subprocess.run(["iptables", "-P", "FORWARD", "ACCEPT"], capture_output=True)


def host_port(e, name, key):
    out = e.run("docker", "port", name, key).stdout.splitlines()
    for line in out:
        if line.startswith("0.0.0.0:"):
            return int(line.split(":")[1])
    raise RuntimeError(f"no IPv4 host port for {name} {key}: {out}")


def wait_port(port, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} never answered")


def throughput(e, mib):
    """MiB/s from the host's loopback into a container's nc sink."""
    name = "sink" + secrets.token_hex(2)
    e.run("docker", "run", "-d", "--name", name, "-p", "5001", "busybox",
          "sh", "-c", "nc -l -p 5001 > /dev/null")
    port = host_port(e, name, "5001/tcp")
    time.sleep(0.3)
    chunk = b"\0" * (1 << 20)
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    t0 = time.perf_counter()
    for _ in range(mib):
        s.sendall(chunk)
    s.shutdown(socket.SHUT_WR)
    s.settimeout(30)
    try:
        s.recv(1)
    except OSError:
        pass
    dt = time.perf_counter() - t0
    s.close()
    e.run("docker", "rm", "-f", name)
    return mib / dt


def conn_rate(e, n):
    """Short HTTP connections per second through a published port."""
    name = "web" + secrets.token_hex(2)
    e.run("docker", "run", "-d", "--name", name, "-p", "80", "busybox",
          "sh", "-c", "echo ok > /i && httpd -f -p 80 -h /")
    port = host_port(e, name, "80/tcp")
    wait_port(port)
    ok = 0
    t0 = time.perf_counter()
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"GET /i HTTP/1.0\r\n\r\n")
        data = b""
        while True:
            b = s.recv(4096)
            if not b:
                break
            data += b
        s.close()
        ok += data.endswith(b"ok\n")
    dt = time.perf_counter() - t0
    e.run("docker", "rm", "-f", name)
    if ok != n:
        raise RuntimeError(f"{n - ok} of {n} requests failed")
    return n / dt


def run_rm_published(e, n):
    e.run("docker", "network", "create", "benchnet")
    try:
        return bench.timed(lambda: e.run("docker", "run", "--rm", "--network", "benchnet",
                                         "-p", "80", "busybox", "true"), n)
    finally:
        e.run("docker", "network", "rm", "benchnet", check=False)


def net_cycle(e, n):
    e.run("docker", "run", "-d", "--name", "cyc", "busybox", "sleep", "1000")
    def once():
        e.run("docker", "network", "create", "cyclenet")
        e.run("docker", "network", "connect", "cyclenet", "cyc")
        e.run("docker", "network", "disconnect", "cyclenet", "cyc")
        e.run("docker", "network", "rm", "cyclenet")
    try:
        return bench.timed(once, n)
    finally:
        e.run("docker", "rm", "-f", "cyc", check=False)


def dns_latency(e, n):
    """Seconds per lookup of another container's name (nslookup runs included)."""
    e.run("docker", "network", "create", "dnsnet")
    e.run("docker", "run", "-d", "--name", "target", "--network", "dnsnet", "busybox",
          "sleep", "1000")
    e.run("docker", "run", "-d", "--name", "asker", "--network", "dnsnet", "busybox",
          "sleep", "1000")
    try:
        e.run("docker", "exec", "asker", "nslookup", "target")
        script = (f"i=0; while [ $i -lt {n} ]; do nslookup target >/dev/null || exit 1; "
                  "i=$((i+1)); done")
        t0 = time.perf_counter()
        e.run("docker", "exec", "asker", "sh", "-c", script)
        return (time.perf_counter() - t0) / n
    finally:
        e.run("docker", "rm", "-f", "target", "asker", check=False)
        e.run("docker", "network", "rm", "dnsnet", check=False)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--tar", required=True)
    ap.add_argument("-n", type=int, default=10)
    ap.add_argument("--mib", type=int, default=512)
    ap.add_argument("--conns", type=int, default=500)
    ap.add_argument("--lookups", type=int, default=300)
    ap.add_argument("--no-docker", action="store_true")
    args = ap.parse_args()
    kinds = ["berth"] + ([] if args.no_docker else ["docker"])
    results = {}
    for kind in kinds:
        e = NetEngine(kind, args.bin_dir)
        try:
            bench.log(f"{kind}: starting")
            e.start()
            e.run("docker", "import", args.tar, "busybox:latest")
            r = {}
            bench.log(f"{kind}: throughput")
            r["tput"] = statistics.median(throughput(e, args.mib) for _ in range(3))
            bench.log(f"{kind}: connections")
            r["conns"] = conn_rate(e, args.conns)
            bench.log(f"{kind}: run --rm -p on a user network")
            r["run"] = statistics.median(run_rm_published(e, args.n))
            bench.log(f"{kind}: network create/connect/disconnect/rm")
            r["cycle"] = statistics.median(net_cycle(e, args.n))
            bench.log(f"{kind}: name lookups")
            r["dns"] = dns_latency(e, args.lookups)
            results[kind] = r
        finally:
            e.cleanup()
    b = results["berth"]
    d = results.get("docker", {})

    def row(what, key, fmt, higher_better):
        bv, dv = b.get(key), d.get(key)
        if bv is None or dv is None:
            rat = "n/a"
        else:
            rat = f"{(bv / dv if higher_better else bv / dv):.2f}x"
        return f"| {what} | {fmt(bv)} | {fmt(dv) if dv is not None else 'n/a'} | {rat} |"

    print("| measure | Berth | Docker | Berth/Docker |")
    print("|---|---|---|---|")
    print(row(f"TCP throughput, loopback -> published port ({args.mib} MiB, median of 3)",
              "tput", lambda v: f"{v:.0f} MiB/s", True))
    print(row(f"short connections/s through a published port ({args.conns} sequential)",
              "conns", lambda v: f"{v:.0f}/s", True))
    print(row(f"`run --rm --network net -p 80 busybox true`, median of {args.n}",
              "run", lambda v: f"{v * 1000:.0f} ms", False))
    print(row(f"network create+connect+disconnect+rm, median of {args.n}",
              "cycle", lambda v: f"{v * 1000:.0f} ms", False))
    print(row(f"name lookup in a container (nslookup, {args.lookups} in a row, per lookup)",
              "dns", lambda v: f"{v * 1000:.2f} ms", False))


if __name__ == "__main__":
    main()
