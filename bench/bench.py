#!/usr/bin/env python3
"""Berth vs Docker on this machine: start latency, bulk start, ps, memory, live restore.

Started by bench/run.sh (which builds the release binaries and installs packages).
Starts its own berthd and its own dockerd (Debian's, --bridge none --iptables=false,
with the containerd it manages), on private sockets and temporary roots; imports the
same busybox tarball into both; prints a markdown table; cleans everything up.
"""

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

DOCKER_CLI = os.environ.get("BENCH_DOCKER_CLI") or (
    "/usr/local/bin/docker" if os.path.exists("/usr/local/bin/docker") else "docker")


def log(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def ping(sock_path):
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(2)
        s.connect(sock_path)
        s.sendall(b"GET /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n")
        data = s.recv(64)
        s.close()
        return data.startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def ppid(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
        return int(s[s.rindex(")") + 2:].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def pids_mentioning(marker, exclude=()):
    me = os.getpid()
    return [p for p in pids() if p != me and p not in exclude and marker in cmdline(p)]


def descendants(roots):
    children = {}
    for p in pids():
        children.setdefault(ppid(p), []).append(p)
    out, stack = set(), list(roots)
    while stack:
        p = stack.pop()
        if p in out or p <= 1 or p == os.getpid():
            continue
        out.add(p)
        stack.extend(children.get(p, []))
    return out


class Engine:
    """One daemon (berthd or dockerd) on its own roots."""

    def __init__(self, kind, bin_dir):
        self.kind = kind
        self.dir = tempfile.mkdtemp(prefix=f"bb-{kind[:1]}-", dir="/tmp")
        self.sock = os.path.join(self.dir, "s.sock")
        self.host = f"unix://{self.sock}"
        self.data = os.path.join(self.dir, "d")
        self.exec_root = os.path.join(self.dir, "e")
        self.logf = os.path.join(self.dir, "daemon.log")
        self.bin_dir = bin_dir
        self.proc = None
        self.bridge = None
        self.bip = None
        self.cfg = os.path.join(self.dir, "docker-config")
        os.makedirs(self.cfg)
        with open(os.path.join(self.cfg, "config.json"), "w") as f:
            f.write("{}\n")
        if kind == "berth":
            self.bridge = "bb" + secrets.token_hex(3)
            routes = subprocess.run(["ip", "-4", "route", "show", "table", "all"],
                                    capture_output=True, text=True).stdout
            for _ in range(50):
                o = secrets.randbelow(250) + 2
                if f"10.214.{o}." not in routes:
                    break
            self.bip = f"10.214.{o}.1/24"

    def daemon_argv(self):
        if self.kind == "berth":
            return [os.path.join(self.bin_dir, "berthd"), "-H", self.host,
                    "--data-root", self.data, "--exec-root", self.exec_root,
                    "--bridge", self.bridge, "--bip", self.bip, "--log-level", "info"]
        return ["dockerd", "--host", self.host, "--data-root", self.data,
                "--exec-root", self.exec_root, "--pidfile", os.path.join(self.dir, "docker.pid"),
                "--bridge", "none", "--iptables=false", "--live-restore", "--log-level", "warn"]

    def start(self):
        os.makedirs(self.data, exist_ok=True)
        os.makedirs(self.exec_root, exist_ok=True)
        lf = open(self.logf, "ab")
        env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "BERTH_HOST")}
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(self.daemon_argv(), stdin=subprocess.DEVNULL,
                                     stdout=lf, stderr=lf, env=env)
        deadline = time.time() + 60
        while not ping(self.sock):
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} daemon exited; see {self.logf}:\n" + self.tail())
            if time.time() > deadline:
                raise RuntimeError(f"{self.kind} daemon did not answer; see {self.logf}")
            time.sleep(0.01)
        return time.perf_counter() - t0

    def tail(self, n=30):
        try:
            with open(self.logf, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def kill9(self):
        if self.proc:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def env(self):
        e = dict(os.environ)
        e.pop("DOCKER_HOST", None)
        e.update(DOCKER_CONFIG=self.cfg, DOCKER_BUILDKIT="0", DOCKER_CLI_HINTS="false",
                 BERTH_HOST=self.host)
        return e

    def cli(self, which):
        """argv prefix of a CLI pointed at this daemon: which = 'berth' or 'docker'."""
        if which == "berth":
            return [os.path.join(self.bin_dir, "berth"), "-H", self.host]
        return [DOCKER_CLI, "-H", self.host]

    def run(self, which, *args, check=True, input=None):
        try:
            r = subprocess.run(self.cli(which) + list(args), env=self.env(), capture_output=True,
                               text=True, input=input, timeout=120)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"{' '.join(self.cli(which) + list(args))} hung for 120 s")
        if check and r.returncode != 0:
            raise RuntimeError(f"{' '.join(self.cli(which) + list(args))} exited {r.returncode}: "
                               f"{r.stdout}{r.stderr}")
        return r

    def daemon_pids(self):
        """The daemon and its helpers that are not per-container (dockerd: + containerd)."""
        if not self.proc:
            return []
        out = [self.proc.pid]
        if self.kind == "docker":
            out += [p for p in pids_mentioning(self.exec_root)
                    if "containerd-shim" not in cmdline(p) and p != self.proc.pid
                    and cmdline(p).startswith("containerd")]
        return out

    def shim_pids(self):
        """Per-container monitor processes (berth-shim / containerd-shim-runc-v2)."""
        exclude = set(self.daemon_pids())
        found = []
        for p in pids_mentioning(self.exec_root, exclude) + pids_mentioning(self.data, exclude):
            c = cmdline(p)
            if self.kind == "docker" and "containerd-shim" not in c:
                continue
            if p not in found:
                found.append(p)
        return found

    def cleanup(self):
        self.stop()
        self.remove_files()

    def stop(self):
        """Stops the daemon and its processes, unmounts, removes the bridge; keeps files."""
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        roots = pids_mentioning(self.dir)
        for _ in range(3):
            victims = descendants(roots) | set(pids_mentioning(self.dir))
            if not victims:
                break
            for p in victims:
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.5)
        for _ in range(3):
            with open("/proc/self/mountinfo") as f:
                mounts = [l.split(" ")[4].replace("\\040", " ") for l in f]
            mine = sorted({m for m in mounts if m == self.dir or m.startswith(self.dir + "/")},
                          key=len, reverse=True)
            if not mine:
                break
            for m in mine:
                subprocess.run(["umount", "-l", m], capture_output=True)
        if self.bridge:
            subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
            for fam in ("ip", "inet"):
                subprocess.run(["nft", "delete", "table", fam, f"berth-{self.bridge}"],
                               capture_output=True)

    def remove_files(self):
        """Deletes the engine's directory (after stop())."""
        if not os.path.exists(self.dir):
            return
        # Never follow into a leftover mount.
        dev = os.lstat(self.dir).st_dev
        for root, dirs, files in os.walk(self.dir, topdown=False):
            if os.lstat(root).st_dev != dev:
                continue
            for name in files + dirs:
                p = os.path.join(root, name)
                try:
                    st = os.lstat(p)
                    if st.st_dev != dev:
                        continue
                    if os.path.isdir(p) and not os.path.islink(p):
                        os.rmdir(p)
                    else:
                        os.unlink(p)
                except OSError:
                    pass
        try:
            os.rmdir(self.dir)
        except OSError:
            pass


def timed(fn, n):
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def fmt_s(x):
    if x != x:
        return "n/a"
    return f"{x * 1000:.0f} ms" if x < 1 else f"{x:.2f} s"


def fmt_mb(kb):
    return "n/a" if kb is None else f"{kb / 1024:.1f} MiB"


def ratio(a, b):
    if a is None or b is None or a != a or b != b or b == 0:
        return "n/a"
    return f"{a / b:.2f}x"


def live_restore_check(e):
    """kill -9 the daemon with 5 containers running + one that exits while it is down."""
    res = {}
    for i in range(4):
        e.run("docker", "run", "-d", "--name", f"lr{i}", "busybox", "sleep", "1000")
    e.run("docker", "run", "-d", "--name", "lrlog", "busybox", "sh", "-c",
          "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.05; done")
    e.run("docker", "run", "-d", "--name", "lrexit", "busybox", "sh", "-c", "sleep 2; exit 42")
    time.sleep(1)
    e.kill9()
    time.sleep(3)
    res["restart_s"] = e.start()
    running = e.run("docker", "ps", "--format", "{{.Names}}").stdout.split()
    res["running"] = sum(1 for n in running if n.startswith("lr") and n != "lrexit")
    time.sleep(1)
    logs = e.run("docker", "logs", "lrlog").stdout
    nums = [int(m.group(1)) for m in re.finditer(r"^line (\d+)$", logs, re.M)]
    res["log_lines"] = len(nums)
    res["gap_free"] = bool(nums) and nums == list(range(len(nums)))
    st = json.loads(e.run("docker", "inspect", "lrexit").stdout)[0]["State"]
    res["exit_code"] = st.get("ExitCode")
    res["stop_ok"] = e.run("docker", "stop", "-t", "1", "lrlog", check=False).returncode == 0
    res["ok"] = (res["running"] == 5 and res["gap_free"] and res["exit_code"] == 42
                 and res["stop_ok"])
    e.run("docker", "rm", "-f", *[f"lr{i}" for i in range(4)], "lrlog", "lrexit", check=False)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--tar", required=True)
    ap.add_argument("-n", type=int, default=20, help="repetitions of run --rm")
    ap.add_argument("--containers", type=int, default=50)
    ap.add_argument("--no-docker", action="store_true", help="benchmark berthd alone")
    ap.add_argument("--no-berth", action="store_true",
                    help="benchmark dockerd alone (checks the benchmark itself)")
    args = ap.parse_args()

    engines = {} if args.no_berth else {"berth": Engine("berth", args.bin_dir)}
    if not args.no_docker:
        if shutil.which("dockerd") is None:
            log("dockerd not found: Docker columns will be n/a (apt-get install docker.io)")
        else:
            engines["docker"] = Engine("docker", args.bin_dir)
    rows = []
    results = {}
    try:
        for k, e in engines.items():
            log(f"starting {k} daemon in {e.dir}")
            results[(k, "startup")] = e.start()
            e.run("docker", "import", "--change", 'CMD ["sh"]', args.tar, "busybox:latest")
            try:  # warm-up
                e.run("docker", "run", "--rm", "--network", "none", "busybox", "true", check=False)
            except RuntimeError as exc:
                log(f"{k}: warm-up run failed: {exc}")
        time.sleep(2)
        for k, e in engines.items():
            results[(k, "idle_rss")] = sum(rss_kb(p) for p in e.daemon_pids())

        def attempt(key, fn):
            try:
                results[key] = fn()
            except Exception as exc:  # a broken engine must not hide the other's numbers
                log(f"{key}: FAILED: {exc}")
                results[key] = None

        n = args.n
        log(f"run --rm busybox true x{n}")
        b = engines.get("berth")
        if b:
            attempt("berth_cli_berthd_none", lambda: timed(
                lambda: b.run("berth", "run", "--rm", "--network", "none", "busybox", "true"), n))
            attempt("docker_cli_berthd_none", lambda: timed(
                lambda: b.run("docker", "run", "--rm", "--network", "none", "busybox", "true"), n))
            attempt("berth_cli_berthd_bridge", lambda: timed(
                lambda: b.run("berth", "run", "--rm", "busybox", "true"), n))
        if "docker" in engines:
            dk = engines["docker"]
            attempt("docker_cli_dockerd_none", lambda: timed(
                lambda: dk.run("docker", "run", "--rm", "--network", "none", "busybox", "true"), n))

        m = args.containers

        def bulk(k, e):
            log(f"{k}: starting {m} detached sleep containers")
            t0 = time.perf_counter()
            for i in range(m):
                e.run("docker", "run", "-d", "--network", "none", "--name", f"s{i}",
                      "busybox", "sleep", "1000")
            results[(k, "bulk_start")] = time.perf_counter() - t0
            results[(k, "ps")] = med(timed(lambda: e.run("docker", "ps"), 5))
            count = len(e.run("docker", "ps", "-q").stdout.split())
            if count != m:
                log(f"warning: {k} lists {count} running containers, expected {m}")
            time.sleep(1)
            shims = e.shim_pids()
            shim_rss = sum(rss_kb(p) for p in shims)
            daemon_rss = sum(rss_kb(p) for p in e.daemon_pids())
            results[(k, "shims")] = len(shims)
            results[(k, "per_container_rss")] = (
                (shim_rss + max(0, daemon_rss - (results[(k, "idle_rss")] or 0))) / m)
            results[(k, "shim_rss")] = shim_rss / len(shims) if shims else None
            t0 = time.perf_counter()
            e.run("docker", "rm", "-f", *[f"s{i}" for i in range(m)])
            return time.perf_counter() - t0

        for k, e in engines.items():
            attempt((k, "bulk_rm"), lambda: bulk(k, e))

        if b:
            log("live restore check (berthd)")
            attempt("lr_berth", lambda: live_restore_check(b))
        if "docker" in engines:
            log("live restore check (dockerd --live-restore)")
            attempt("lr_docker", lambda: live_restore_check(engines["docker"]))
    finally:
        for k, e in engines.items():
            if e.proc and e.proc.poll() is not None:
                log(f"{k} daemon died; log tail:\n{e.tail()}")
            e.cleanup()

    has_docker = "docker" in engines
    g = results.get

    def dk(key):
        return g(("docker", key)) if has_docker else None

    print()
    print(f"## Berth vs Docker ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"{os.cpu_count()} CPUs, kernel {os.uname().release})")
    print()
    print("| measurement | Berth | Docker | Berth / Docker |")
    print("| --- | --- | --- | --- |")
    def m_(key):
        v = g(key)
        return med(v) if v else None

    dd = m_("docker_cli_dockerd_none")
    rows = [
        (f"`run --rm --network none busybox true`, median of {args.n}: berth CLI → berthd vs docker CLI → dockerd",
         m_("berth_cli_berthd_none"), dd, fmt_s),
        (f"same, docker CLI → berthd vs docker CLI → dockerd",
         m_("docker_cli_berthd_none"), dd, fmt_s),
        (f"`run --rm busybox true` on the default bridge (berth CLI; dockerd here has no bridge)",
         m_("berth_cli_berthd_bridge"), None, fmt_s),
        (f"{args.containers} × `run -d sleep 1000`, total", g(("berth", "bulk_start")), dk("bulk_start"), fmt_s),
        (f"`ps` with {args.containers} running, median of 5", g(("berth", "ps")), dk("ps"), fmt_s),
        (f"`rm -f` of {args.containers} running", g(("berth", "bulk_rm")), dk("bulk_rm"), fmt_s),
        ("daemon start until `/_ping` answers", g(("berth", "startup")), dk("startup"), fmt_s),
        ("daemon idle RSS (berthd vs dockerd + containerd)", g(("berth", "idle_rss")), dk("idle_rss"), fmt_mb),
        ("RSS per running container (shim + daemon growth)", g(("berth", "per_container_rss")),
         dk("per_container_rss"), fmt_mb),
        ("RSS of one shim (berth-shim vs containerd-shim-runc-v2)", g(("berth", "shim_rss")),
         dk("shim_rss"), fmt_mb),
    ]
    for name, a, bval, f in rows:
        print(f"| {name} | {f(a) if a is not None else 'n/a'} | "
              f"{f(bval) if bval is not None else 'n/a'} | {ratio(a, bval)} |")
    print()
    for k in ("berth", "docker"):
        if f"lr_{k}" not in results:
            continue
        lr = results[f"lr_{k}"]
        if lr is None:
            print(f"- live restore ({k}): FAIL (the check itself failed; see the log above)")
            continue
        print(f"- live restore ({k}): {'PASS' if lr['ok'] else 'FAIL'} — after `kill -9` and restart "
              f"({fmt_s(lr['restart_s'])} to answer): {lr['running']}/5 containers running, "
              f"log sequence {'gap-free' if lr['gap_free'] else 'HAS GAPS'} ({lr['log_lines']} lines), "
              f"exited-while-down exit code {lr['exit_code']} (expected 42), stop afterwards "
              f"{'ok' if lr['stop_ok'] else 'FAILED'}")
    print(f"- Berth binaries: {os.path.realpath(args.bin_dir)}")
    print(f"- shim processes found with {args.containers} running: berth {g(('berth', 'shims'))}"
          + (f", docker {dk('shims')}" if has_docker else ""))
    print("- Docker: Debian's dockerd (" + subprocess.run(["dockerd", "--version"], capture_output=True,
          text=True).stdout.strip() + ") with --bridge none --iptables=false; CLI " + DOCKER_CLI
          if has_docker else "- Docker: not measured")
    lr = results.get("lr_berth" if not args.no_berth else "lr_docker")
    return 0 if lr and lr["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
