#!/usr/bin/env python3
"""Memory that comes back: berthd's idle RSS before and after a burst of API traffic.

Started by bench/memory/run.sh (which builds the release binaries, installs packages and
makes the busybox tarball).

1. Starts its own berthd (bench/bench.py's Engine: private socket, temporary roots, its
   own bridge and subnet) and a `berth registry serve` on 127.0.0.1:<free port>; imports
   busybox; waits until the daemon is idle and records its RSS.
2. Runs a bounded workload through the API, loopback only:
   - N create / start / rm -f of busybox containers (half on the bridge, half
     --network none);
   - builds of a small Dockerfile (COPY of a context of small files and one 1 MiB file,
     a RUN), --no-cache, alternating `berth build` and `DOCKER_BUILDKIT=0 docker build`;
   - pushes of busybox and of an image with an 8 MiB random layer to the local
     registry, removal, and pulls back;
   - malformed requests on raw unix-socket connections (garbage request lines, huge
     headers, bad JSON, broken chunked bodies, bodies cut short, garbage tarballs);
   - removal of every container and image the workload made.
3. Waits until the daemon is idle (no container left) and samples its RSS for
   --settle seconds; prints a markdown table of VmRSS / RssAnon / RssFile / threads
   (idle before, right after, and after settling) and cleans everything up.

Exit status 1 when --max-idle-mb is given and the settled RSS is above it.
"""

import argparse
import os
import random
import shutil
import socket
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(HERE, "..", "pull"))
import bench as common  # noqa: E402  (bench/bench.py: Engine, ping)
from pull import Registry  # noqa: E402  (bench/pull/pull.py: `berth registry serve`)


def log(msg):
    print(f"[bench-memory] {msg}", file=sys.stderr, flush=True)


def status(pid):
    """VmRSS, RssAnon, RssFile (kB) and Threads of a process."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "Threads"):
                    out[k] = int(v.split()[0])
    except OSError:
        pass
    return out


def malformed_payloads():
    """Raw requests a daemon must refuse without keeping anything."""
    big_json = b'{"Image": "' + b"a" * (1 << 20)
    garbage = bytes(random.Random(7).getrandbits(8) for _ in range(256 << 10))

    def post(path, body, extra=b""):
        return (b"POST " + path + b" HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\n"
                + extra + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)

    return [
        b"GARBAGE\r\n\r\n",
        b"GET /_ping HTTP/9.9\r\n\r\n",
        b"GET /_ping HTTP/1.1\r\nHost: d\r\nX-Big: " + b"a" * (400 << 10) + b"\r\n\r\n",
        b"GET /_ping HTTP/1.1\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(2000)) + b"\r\n",
        post(b"/containers/create", big_json),
        post(b"/containers/create", b'{"Image": 5, "Cmd": {"x": []}}'),
        post(b"/containers/create?name=" + b"%ff" * 300, b"{}"),
        post(b"/v1.51/containers/nope/start", b""),
        (b"POST /containers/create HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\n"
         b"zz\r\nxx\r\n0\r\n\r\n"),
        (b"POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Length: 1000000\r\n\r\n"
         + b"{" * 5000),
        post(b"/build?t=bad", garbage, b"Content-Type: application/x-tar\r\n"),
        post(b"/images/load", garbage, b"Content-Type: application/x-tar\r\n"),
        post(b"/images/create?fromImage=%00bad&tag=%ff", b""),
        b"GET /containers/json?filters=" + b"%7B" * 2000 + b" HTTP/1.1\r\nHost: d\r\n\r\n",
        b"GET /containers/" + b"x" * 8000 + b"/json HTTP/1.1\r\nHost: d\r\n\r\n",
        b"GET /images/json HTTP/1.1\r\nHost: d\r\n",  # cut short: the client hangs up
    ]


def send_raw(sock_path, payload):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.connect(sock_path)
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        while s.recv(65536):
            pass
    except OSError:
        pass
    finally:
        s.close()


def make_context(top):
    ctx = os.path.join(top, "ctx")
    os.makedirs(os.path.join(ctx, "files"))
    rnd = random.Random(1)
    for i in range(200):
        with open(os.path.join(ctx, "files", f"f{i}.txt"), "w") as f:
            f.write("".join(rnd.choice("abcdefgh \n") for _ in range(2000)))
    with open(os.path.join(ctx, "blob.bin"), "wb") as f:
        f.write(rnd.randbytes(1 << 20))
    with open(os.path.join(ctx, "Dockerfile"), "w") as f:
        f.write("FROM busybox:latest\nARG N=0\nCOPY . /ctx\n"
                "RUN echo build $N > /n && ls /ctx/files | wc -l\n")
    big = os.path.join(top, "big")
    os.makedirs(big)
    with open(os.path.join(big, "Dockerfile"), "w") as f:
        f.write("FROM busybox:latest\nRUN head -c 8388608 /dev/urandom > /big\n")
    return ctx, big


def workload(e, reg, ctx, big, args):
    t0 = time.time()

    def log(msg):  # noqa: F811  (with the time into the round)
        print(f"[bench-memory] {time.time() - t0:6.1f}s {msg}", file=sys.stderr, flush=True)

    n = args.containers
    log(f"{n} x create / start / rm -f")
    for i in range(n):
        net = ["--network", "none"] if i % 2 else []
        cid = e.run("docker", "create", *net, "busybox", "sh", "-c", "echo hi; sleep 30"
                    ).stdout.strip()
        e.run("docker", "start", cid)
        e.run("docker", "rm", "-f", cid)
    log(f"{args.builds} builds")
    for i in range(args.builds):
        tag = f"mem/build:{i}"
        if i % 2:
            e.run("docker", "build", "--no-cache", "-q", "--network", "none",
                  "--build-arg", f"N={i}", "-t", tag, ctx)
        else:
            e.run("berth", "build", "--no-cache", "-q", "--network", "none",
                  "--build-arg", f"N={i}", "-t", tag, ctx)
    e.run("berth", "build", "-q", "--network", "none", "-t", "mem/big:latest", big)
    log(f"{args.pushes} x push / rmi / pull (busybox and an 8 MiB layer)")
    for i in range(args.pushes):
        for src in ("busybox:latest", "mem/big:latest"):
            ref = f"{reg.host}/mem/{src.split('/')[-1].split(':')[0]}:{i}"
            e.run("docker", "tag", src, ref)
            e.run("docker", "push", ref)
            e.run("docker", "rmi", ref)
            e.run("docker", "pull", ref)
            e.run("docker", "rmi", ref)
    log(f"{args.malformed} malformed requests")
    payloads = malformed_payloads()
    for i in range(args.malformed):
        send_raw(e.sock, payloads[i % len(payloads)])
    log("removing what the workload made")
    left = e.run("docker", "ps", "-aq").stdout.split()
    if left:
        e.run("docker", "rm", "-f", *left)
    imgs = [l for l in e.run("docker", "images", "--format", "{{.Repository}}:{{.Tag}}"
                             ).stdout.split() if l != "busybox:latest"]
    if imgs:
        e.run("docker", "rmi", "-f", *imgs, check=False)
    e.run("docker", "image", "prune", "-f", check=False)
    e.run("docker", "builder", "prune", "-a", "-f", check=False)
    log("done")


def settle(e, seconds):
    """Samples the daemon for `seconds` with no traffic; returns the last sample."""
    last = {}
    deadline = time.time() + seconds
    while True:
        last = status(e.proc.pid)
        if time.time() >= deadline:
            return last
        time.sleep(min(5, max(0.1, deadline - time.time())))


def mb(kb):
    return "n/a" if kb is None else f"{kb / 1024:.1f} MiB"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--tar", required=True)
    ap.add_argument("--containers", type=int, default=200)
    ap.add_argument("--builds", type=int, default=20)
    ap.add_argument("--pushes", type=int, default=10)
    ap.add_argument("--malformed", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3, help="repeat the workload")
    ap.add_argument("--settle", type=float, default=30, help="idle seconds before measuring")
    ap.add_argument("--max-idle-mb", type=float, help="fail when settled RSS is above this")
    ap.add_argument("--smaps", help="copy the settled daemon's /proc/PID/smaps here")
    args = ap.parse_args()

    top = tempfile.mkdtemp(prefix="bm-", dir="/tmp")
    e = common.Engine("berth", args.bin_dir)
    reg = Registry(os.path.join(args.bin_dir, "berth"), top, "registry")
    rows = []
    t0 = time.time()
    try:
        log(f"starting berthd in {e.dir}")
        e.start()
        reg.start()
        e.run("docker", "import", "--change", 'CMD ["sh"]', args.tar, "busybox:latest")
        e.run("docker", "run", "--rm", "--network", "none", "busybox", "true")
        rows.append(("idle, before the workload", settle(e, args.settle)))
        ctx, big = make_context(top)
        for r in range(args.rounds):
            workload(e, reg, ctx, big, args)
            rows.append((f"right after workload round {r + 1}", status(e.proc.pid)))
            rows.append((f"idle {args.settle:.0f} s after round {r + 1}", settle(e, args.settle)))
        if e.proc.poll() is not None:
            raise RuntimeError(f"berthd died; log tail:\n{e.tail()}")
        if args.smaps:
            shutil.copyfile(f"/proc/{e.proc.pid}/smaps", args.smaps)
    finally:
        reg.stop()
        e.cleanup()
        shutil.rmtree(top, ignore_errors=True)

    print()
    print(f"## berthd memory after API traffic ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"{os.cpu_count()} CPUs, kernel {os.uname().release}, {time.time() - t0:.0f} s)")
    print()
    print(f"Workload per round: {args.containers} create/start/rm, {args.builds} builds, "
          f"{args.pushes} x push+pull of 2 images, {args.malformed} malformed requests.")
    print()
    print("| berthd | VmRSS | RssAnon | RssFile | threads |")
    print("| --- | --- | --- | --- | --- |")
    for name, s in rows:
        print(f"| {name} | {mb(s.get('VmRSS'))} | {mb(s.get('RssAnon'))} | "
              f"{mb(s.get('RssFile'))} | {s.get('Threads', 'n/a')} |")
    final = rows[-1][1].get("VmRSS")
    if args.max_idle_mb is not None and (final is None or final / 1024 > args.max_idle_mb):
        print(f"\nFAIL: settled RSS {mb(final)} > {args.max_idle_mb} MiB")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
