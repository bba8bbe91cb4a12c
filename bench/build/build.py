#!/usr/bin/env python3
"""`docker build`, Berth vs Docker's classic builder vs BuildKit, on one reference project.

Started by bench/build/run.sh (which builds the release binaries, installs packages and
makes the busybox tarball).

1. Generates the reference project deterministically (cached): 5,000 small text files of
   ~10 KB (~50 MB) under src/<a>/<b>/, plus src/config.txt, and a three-stage Dockerfile
   (RUN steps, a COPY of the whole src/ tree, COPY --from between stages).
2. Starts its own berthd (--bridge none) and its own dockerd (--bridge none,
   --iptables=false) on private sockets and temporary roots, imports the same busybox
   tarball as busybox:latest into both. Both daemons get HTTP(S)_PROXY pointing to a
   closed loopback port: nothing here may reach a registry, and an attempt fails the
   build loudly instead of leaving the machine.
3. For each builder (berth CLI -> berthd; docker 28 CLI with the classic API -> berthd;
   docker 20.10 CLI with DOCKER_BUILDKIT=0 -> dockerd; the same with DOCKER_BUILDKIT=1):
   cold builds (berth: a fresh daemon on a fresh data root; docker: every image but
   busybox removed and `builder prune -a -f`), no-op rebuilds, and rebuilds after changing
   one file that the COPY of stage `build` reads, all with `--network none` (the daemons
   have no bridge; BuildKit fails "network bridge not found" without it). Wall time of
   the CLI command. The builders take turns in rounds (each round: a cold build, then
   its share of the no-op and one-file-change rebuilds), so load drift on this shared
   machine hits them alike. The image of the last build is checked (file count, the
   changed file's content) with `run --rm`.
4. Prints a markdown table and whether the targets of issue 4 are met; cleans up both
   daemons, their mounts and temp dirs, also on Ctrl-C, SIGTERM or an exception.
"""

import argparse
import atexit
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import bench as common  # noqa: E402  (bench/bench.py: Engine, med, fmt_s, ratio)

DOCKER28 = common.DOCKER_CLI          # /usr/local/bin/docker (28.x, classic API only)
DOCKER20 = os.environ.get("BENCH_DOCKER20_CLI", "/usr/bin/docker")  # Debian's 20.10
# A closed port on loopback: any registry access by a daemon fails here, locally.
NO_NET_PROXY = "http://127.0.0.1:9"

# Project shape: bump PROJECT_VERSION whenever the generator changes.
PROJECT_VERSION = 1
SEED = 20261128
DIRS_A, DIRS_B, FILES_PER_DIR = 10, 10, 50   # 5,000 files
FILE_BYTES = (8 * 1024, 12 * 1024)            # ~10 KB each, ~50 MB in all
CHANGE_FILE_N = 2468                          # the file the one-file-change runs modify
TAG = "bench:1"

DOCKERFILE = """\
FROM busybox AS deps
RUN mkdir -p /deps && for i in $(seq 1 200); do echo "dep $i" > /deps/$i; done

FROM busybox AS build
COPY src/ /src/
RUN find /src -type f | wc -l > /count && tar -cf /app.tar -C /src .

FROM busybox
COPY --from=deps /deps /deps
COPY --from=build /app.tar /app.tar
COPY --from=build /count /count
COPY src/config.txt /etc/app.conf
RUN ls /deps | wc -l > /deps.count
CMD ["sh"]
"""

WORDS = ("container image layer registry manifest digest config overlay namespace cgroup "
         "runtime daemon socket network bridge volume mount process signal kernel berth "
         "build stage cache context dockerfile copy run from workdir env arg label entry "
         "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike "
         "the of and to in is that for it as with was on be by at this from or "
         "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor").split()


def log(msg):
    print(f"[bench-build] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------
# The reference project

def rel_path(n):
    a, rest = divmod(n, DIRS_B * FILES_PER_DIR)
    b = rest // FILES_PER_DIR
    return os.path.join("src", f"{a:02d}", f"{b:02d}", f"file{n:05d}.txt")


def file_content(n):
    """Deterministic mixed text: prose, CSV, hex dumps or key=value config, ~10 KB."""
    rng = random.Random(SEED * 10000 + n)
    size = rng.randint(*FILE_BYTES)
    kind = n % 4
    lines, total, i = [], 0, 0
    while total < size:
        if kind == 0:
            line = " ".join(rng.choices(WORDS, k=rng.randint(6, 14))).capitalize() + "."
        elif kind == 1:
            line = ",".join(str(rng.randrange(100000)) for _ in range(8))
        elif kind == 2:
            line = f"{i * 16:08x}  " + " ".join(f"{rng.randrange(256):02x}" for _ in range(16))
        else:
            line = f"{rng.choice(WORDS)}.{rng.choice(WORDS)}_{i} = \"{rng.choice(WORDS)}\""
        lines.append(line)
        total += len(line) + 1
        i += 1
    return ("\n".join(lines) + "\n").encode()[:size]


def n_files():
    return DIRS_A * DIRS_B * FILES_PER_DIR


class Project:
    def __init__(self, path):
        self.path = os.path.abspath(path)
        self.stamp = self.path + ".stamp"
        self.change_rel = rel_path(CHANGE_FILE_N)
        self.change_path = os.path.join(self.path, self.change_rel)
        self.bytes = 0

    def _stamp_ok(self):
        try:
            with open(self.stamp) as f:
                meta = json.load(f)
        except (OSError, ValueError):
            return False
        if meta.get("version") != PROJECT_VERSION:
            return False
        self.bytes = meta.get("bytes", 0)
        # cheap check: every file is there with the right size
        for n in range(n_files()):
            try:
                if os.path.getsize(os.path.join(self.path, rel_path(n))) != meta["sizes"][n]:
                    return False
            except (OSError, IndexError, KeyError):
                return False
        return True

    def ensure(self):
        if self._stamp_ok():
            self.restore()
            log(f"project: cached in {self.path} ({n_files() + 1} files, "
                f"{self.bytes / 1e6:.1f} MB)")
            return
        log(f"project: generating {n_files()} files in {self.path}")
        t0 = time.perf_counter()
        if os.path.exists(self.path):
            shutil.rmtree(self.path)
        sizes, total = [], 0
        for n in range(n_files()):
            p = os.path.join(self.path, rel_path(n))
            os.makedirs(os.path.dirname(p), exist_ok=True)
            data = file_content(n)
            with open(p, "wb") as f:
                f.write(data)
            sizes.append(len(data))
            total += len(data)
        with open(os.path.join(self.path, "src", "config.txt"), "w") as f:
            f.write("# reference project configuration\nlisten = 8080\nworkers = 4\n")
        with open(os.path.join(self.path, "Dockerfile"), "w") as f:
            f.write(DOCKERFILE)
        self.bytes = total
        with open(self.stamp, "w") as f:
            json.dump({"version": PROJECT_VERSION, "bytes": total, "sizes": sizes}, f)
        log(f"project: {total / 1e6:.1f} MB generated in {time.perf_counter() - t0:.1f} s")

    def restore(self):
        """Put the file the one-file-change runs modify back to its generated content."""
        with open(self.change_path, "wb") as f:
            f.write(file_content(CHANGE_FILE_N))
        with open(os.path.join(self.path, "Dockerfile"), "w") as f:
            f.write(DOCKERFILE)

    def change(self, marker):
        """Append a distinct last line to the watched file; returns that line."""
        line = f"changed {marker} {time.time_ns()}"
        with open(self.change_path, "wb") as f:
            f.write(file_content(CHANGE_FILE_N) + b"\n" + line.encode() + b"\n")
        return line


# ---------------------------------------------------------------------------------------
# Engines: bench/bench.py's Engine, without a bridge, with a config file and no network

class BuildEngine(common.Engine):
    def __init__(self, kind, bin_dir):
        super().__init__(kind, bin_dir)
        self.bridge = None
        self.bip = None
        self.daemon_json = os.path.join(self.dir, "daemon.json")
        with open(self.daemon_json, "w") as f:
            f.write("{}\n")

    def daemon_argv(self):
        """bench/bench.py's argv, with no bridge at all and a private daemon.json."""
        argv = super().daemon_argv()
        if self.kind == "berth":
            i = argv.index("--bridge")
            argv[i:i + 4] = ["--bridge", "none"]       # drops --bridge X --bip Y
        else:
            argv = [a for a in argv if a != "--live-restore"] + ["--ip6tables=false"]
        return argv + ["--config-file", self.daemon_json]

    def start(self):
        saved = {k: os.environ.get(k) for k in common_proxy_vars()}
        for k in common_proxy_vars():
            os.environ.pop(k, None)
        for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
            os.environ[k] = NO_NET_PROXY
        try:
            return super().start()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def cmd(self, argv0, *args, buildkit=False, check=True, timeout=600):
        """Run a CLI (berth, docker 28 or docker 20.10) against this daemon."""
        prefix = ([os.path.join(self.bin_dir, "berth"), "-H", self.host] if argv0 == "berth"
                  else [argv0, "-H", self.host])
        argv = prefix + list(args)
        env = self.env()
        for k in common_proxy_vars():
            env.pop(k, None)
        env["DOCKER_BUILDKIT"] = "1" if buildkit else "0"
        try:
            r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout,
                               stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"{' '.join(argv)} hung for {timeout} s")
        if check and r.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited {r.returncode}:\n"
                               f"{tail_lines(r.stdout + r.stderr, 40)}")
        return r


def common_proxy_vars():
    return ("http_proxy", "https_proxy", "all_proxy", "no_proxy",
            "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


def tail_lines(text, n):
    return "\n".join(text.rstrip().splitlines()[-n:])


# ---------------------------------------------------------------------------------------
# Builders

class Builder:
    """One way of building: a CLI, its mode, and the engine it talks to."""

    def __init__(self, key, label, engine_kind, cli, buildkit):
        self.key, self.label, self.engine_kind = key, label, engine_kind
        self.cli, self.buildkit = cli, buildkit

    def build(self, e, project):
        t0 = time.perf_counter()
        r = e.cmd(self.cli, "build", "--network", "none", "-t", TAG, project.path,
                  buildkit=self.buildkit)
        return time.perf_counter() - t0, r.stdout + r.stderr


BUILDERS = [
    Builder("berth", "berth CLI → berthd", "berth", "berth", False),
    Builder("berth_d28", "docker 28 CLI (classic API) → berthd", "berth", DOCKER28, False),
    Builder("classic", "docker 20.10 CLI, DOCKER_BUILDKIT=0 → dockerd", "docker", DOCKER20, False),
    Builder("buildkit", "docker 20.10 CLI, DOCKER_BUILDKIT=1 → dockerd", "docker", DOCKER20,
            True),
]


# On this machine's ext4 (no journal), a new inode skips every inode freed in the last
# seconds (5 s once the inode tables are written back, 300 s while they are dirty), one
# by one: right after a daemon's cache or data root was deleted, creating the 5,000 files
# of a cold build costs seconds, whoever builds. Before each cold build (of every
# builder) the dirty data is written back and that window is let pass.
SETTLE_S = 6


def settle():
    os.sync()
    time.sleep(SETTLE_S)


class Bench:
    def __init__(self, args, project):
        self.args = args
        self.project = project
        self.engines = []        # every engine ever started (cleanup)
        self.deferred = []       # stopped engines whose files go at the end
        self.dockerd = None
        self.res = {}            # (builder key, what) -> [seconds]
        self.errors = {}         # (builder key, what) -> message
        self.notes = []
        self.checks = {}         # builder key -> verification text
        self.round_loads = []    # load average at the start of each round

    # engines ----------------------------------------------------------------------------

    def new_engine(self, kind):
        e = BuildEngine(kind, self.args.bin_dir)
        self.engines.append(e)
        log(f"starting {kind} daemon in {e.dir}")
        e.start()
        e.cmd(DOCKER28, "import", "--change", 'CMD ["sh"]', self.args.tar, "busybox:latest")
        return e

    def drop_engine(self, e, keep_files=False):
        """Stops an engine. With keep_files its data root is deleted only at the end
        (see `finish`)."""
        if e.proc and e.proc.poll() is not None:
            log(f"{e.kind} daemon died; log tail:\n{e.tail()}")
        if keep_files:
            e.stop()
            self.deferred.append(e)
        else:
            e.cleanup()
        if e in self.engines:
            self.engines.remove(e)

    def finish(self):
        """Deletes the data roots kept by drop_engine(keep_files=True)."""
        while self.deferred:
            self.deferred.pop().remove_files()

    def docker_cold(self, e):
        """Every image but busybox removed, build cache pruned, on the same dockerd."""
        keep = e.cmd(DOCKER28, "image", "inspect", "-f", "{{.Id}}", "busybox:latest").stdout.strip()
        e.cmd(DOCKER28, "container", "prune", "-f", check=False)
        for _ in range(3):
            ids = set(e.cmd(DOCKER28, "images", "-a", "-q", "--no-trunc").stdout.split())
            ids.discard(keep)
            if not ids:
                break
            e.cmd(DOCKER28, "rmi", "-f", *sorted(ids), check=False)
        e.cmd(DOCKER20, "builder", "prune", "-a", "-f", buildkit=True)
        left = set(e.cmd(DOCKER28, "images", "-a", "-q", "--no-trunc").stdout.split()) - {keep}
        if left:
            raise RuntimeError(f"dockerd still has images after the cleanup: {sorted(left)}")
        df = e.cmd(DOCKER20, "system", "df", "--format", "{{.Type}} {{.Size}}",
                   check=False).stdout
        for line in df.splitlines():
            if line.startswith("Build Cache") and not line.endswith(" 0B"):
                raise RuntimeError(f"dockerd build cache not empty after prune: {line}")

    def engine_for(self, b, cold):
        """The engine to build on; for a cold build, one with no cache of any kind."""
        if b.engine_kind == "berth":
            if cold or self.current is None:
                if self.current is not None:
                    # Deleting thousands of files just before a cold build slows the
                    # build's own file creation on this machine's no-journal ext4
                    # (new inodes skip recently deleted ones, one by one): the old
                    # root goes at the end instead.
                    self.drop_engine(self.current, keep_files=True)
                self.current = self.new_engine("berth")
            return self.current
        if self.dockerd is None:
            self.dockerd = self.new_engine("docker")
        if cold:
            self.docker_cold(self.dockerd)
        return self.dockerd

    # measurements ------------------------------------------------------------------------

    def add(self, key, what, v):
        self.res.setdefault((key, what), []).append(v)

    def verify(self, b, e, want_line):
        """Check the image: file count, deps, and the changed file's last line."""
        script = (f"cat /count /deps.count; tar -xOf /app.tar ./{self.project.change_rel[4:]}"
                  " | tail -n 1; cat /etc/app.conf | head -n 1")
        r = e.cmd(DOCKER28, "run", "--rm", "--network", "none", TAG, "sh", "-c", script,
                  check=False)
        out = r.stdout.split("\n")
        want = [str(n_files() + 1), "200", want_line, "# reference project configuration"]
        ok = r.returncode == 0 and [x.strip() for x in out[:4]] == want
        self.checks[b.key] = ("ok" if ok else
                              f"MISMATCH: got {out[:4]!r} (rc {r.returncode}, "
                              f"{r.stderr.strip()[:300]}), want {want!r}")

    def image_id(self, e):
        r = e.cmd(DOCKER28, "image", "inspect", "-f", "{{.Id}}", TAG, check=False)
        return r.stdout.strip() if r.returncode == 0 else None

    def run_round(self, b, r, noops, changes, last):
        """One round of builder b: a cold build, `noops` no-op rebuilds, `changes`
        one-file-change rebuilds; the image is checked in the last round."""
        self.project.restore()
        e = self.engine_for(b, cold=True)
        settle()
        dt, _ = b.build(e, self.project)
        self.add(b.key, "cold", dt)
        log(f"  round {r + 1}: {b.key} cold: {common.fmt_s(dt)}")
        before = self.image_id(e)
        for _ in range(noops):
            dt, _ = b.build(e, self.project)
            self.add(b.key, "noop", dt)
            log(f"  round {r + 1}: {b.key} no-op: {common.fmt_s(dt)}")
        after = self.image_id(e)
        if before != after:
            self.notes.append(f"{b.key}: a no-op rebuild changed the image ID "
                              f"({before} -> {after})")
        line = None
        for i in range(changes):
            line = self.project.change(f"{b.key}-{r}-{i}")
            dt, _ = b.build(e, self.project)
            self.add(b.key, "change", dt)
            log(f"  round {r + 1}: {b.key} one-file change: {common.fmt_s(dt)}")
        if last:
            want = (line if line is not None
                    else file_content(CHANGE_FILE_N).decode().splitlines()[-1])
            self.verify(b, e, want)
        self.project.restore()

    def run(self):
        self.current = None
        a = self.args
        wanted = [b for b in BUILDERS
                  if not (a.no_berth and b.engine_kind == "berth")
                  and not (a.no_docker and b.engine_kind == "docker")
                  and not (a.no_buildkit and b.key == "buildkit")]
        if any(b.engine_kind == "docker" for b in wanted) and shutil.which("dockerd") is None:
            log("dockerd not found: Docker columns will be n/a (apt-get install docker.io)")
            wanted = [b for b in wanted if b.engine_kind != "docker"]
        # Rounds interleave the builders, so load drift on this shared machine hits all
        # of them alike; no-op and change runs are spread over the rounds.
        rounds = a.cold_runs

        def share(n, r):
            return n // rounds + (1 if r < n % rounds else 0)

        for r in range(rounds):
            self.round_loads.append(common_load())
            for b in wanted:
                if b.key in self.errors:
                    continue
                log(f"round {r + 1}/{rounds}: {b.label}")
                try:
                    self.run_round(b, r, share(a.noop_runs, r), share(a.change_runs, r),
                                   r == rounds - 1)
                except Exception as exc:  # one broken builder must not hide the others
                    self.errors[b.key] = str(exc)
                    log(f"{b.key}: FAILED: {exc}")
                    for e in list(self.engines):
                        if e.proc and e.proc.poll() is not None:
                            log(f"{e.kind} daemon died; log tail:\n{e.tail()}")
                    self.project.restore()
                if b.engine_kind == "berth" and self.current is not None:
                    self.drop_engine(self.current, keep_files=True)
                    self.current = None
        self.wanted = wanted
        if self.dockerd is not None:
            self.proxy_attempts = [l for l in self.dockerd.tail(100000).splitlines()
                                   if "127.0.0.1:9" in l or "proxyconnect" in l]

    # report ------------------------------------------------------------------------------

    def report(self):
        a = self.args
        g = lambda k, w: (common.med(self.res[(k, w)])  # noqa: E731
                          if self.res.get((k, w)) else None)
        s = lambda v: "n/a" if v is None else common.fmt_s(v)  # noqa: E731
        print()
        print(f"## `docker build`, Berth vs Docker classic vs BuildKit "
              f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})")
        print()
        print(f"Machine: {os.cpu_count()} CPUs ({cpu_model()}), kernel {os.uname().release}, "
              f"load average {self.load_start} at the start, {common_load()} at the end "
              f"(at each round's start: {'; '.join(self.round_loads)}). Other work on the "
              "machine shows up as spread between rounds.")
        print()
        print(f"Project: {n_files() + 1} files, {self.project.bytes / 1e6:.1f} MB under src/, "
              "three stages (RUN, COPY src/, tar, COPY --from), base busybox:latest imported "
              "locally. Builders interleaved in rounds. Cold: median of "
              f"{a.cold_runs}; no-op: median of {a.noop_runs}; one-file change: median of "
              f"{a.change_runs}, each with different content. `build --network none` "
              "everywhere. Wall time of the CLI command.")
        print()
        print("| measurement | Berth | Berth via docker 28 CLI (classic API) | Docker classic "
              "| BuildKit | Berth / BuildKit |")
        print("| --- | --- | --- | --- | --- | --- |")
        names = {"cold": "cold build (no cache)", "noop": "no-op rebuild",
                 "change": "rebuild after changing one file under src/"}
        for w in ("cold", "noop", "change"):
            vals = [g(k, w) for k in ("berth", "berth_d28", "classic", "buildkit")]
            print(f"| {names[w]} | " + " | ".join(s(v) for v in vals) + " | "
                  + common.ratio(vals[0], vals[3]) + " |")
        print()
        bc, bn, bo = g("berth", "cold"), g("berth", "noop"), g("berth", "change")
        kc, ko = g("buildkit", "cold"), g("buildkit", "change")

        def verdict(ok):
            return "n/a" if ok is None else ("MET" if ok else "NOT MET")
        print(f"- target cold build ≤ BuildKit's: "
              f"{verdict(None if bc is None or kc is None else bc <= kc)} "
              f"({s(bc)} vs {s(kc)}; issue: 6.7 s)")
        print(f"- target no-op rebuild < 100 ms: {verdict(None if bn is None else bn < 0.1)} "
              f"({s(bn)})")
        print(f"- target one-file change ≤ half of BuildKit's: "
              f"{verdict(None if bo is None or ko is None else bo <= ko / 2)} "
              f"({s(bo)} vs {s(ko)} / 2; issue: 0.44 s)")
        for k in ("berth", "berth_d28", "classic", "buildkit"):
            runs = [f"{w} " + ", ".join(common.fmt_s(x) for x in self.res[(k, w)])
                    for w in ("cold", "noop", "change") if self.res.get((k, w))]
            if runs:
                print(f"- {k} runs: " + "; ".join(runs))
        for k, v in self.checks.items():
            print(f"- {k}: image after the last build checked with `run --rm` "
                  f"(file count, deps, changed file, config): {v}")
        for k, err in self.errors.items():
            print(f"- {k} FAILED: {err}")
        for n in self.notes:
            print(f"- note: {n}")
        attempts = getattr(self, "proxy_attempts", [])
        if self.dockerd is not None or any(b.engine_kind == "docker" for b in self.wanted):
            print(f"- registry access attempts by dockerd (to the closed loopback proxy): "
                  f"{len(attempts)}" + (f", e.g. `{attempts[0][:200]}`" if attempts else ""))
        print(f"- Berth binaries: {os.path.realpath(a.bin_dir)}; cold Berth builds each start "
              "a fresh berthd on a fresh data root (no layer, build or file-hash cache); "
              "the previous roots are deleted at the end of the run, not just before a "
              "cold build (see Bench.engine_for)")
        print(f"- before every cold build (all builders): `sync` and {SETTLE_S} s of rest, so "
              "that files deleted by the previous cleanup do not slow the build's file "
              "creation (see `settle`)")
        if any(b.engine_kind == "docker" for b in self.wanted):
            ver = subprocess.run(["dockerd", "--version"], capture_output=True,
                                 text=True).stdout.strip()
            print(f"- Docker: Debian's dockerd ({ver}) with --bridge none --iptables=false; "
                  f"CLI {DOCKER20} ({cli_version(DOCKER20)}); cold Docker builds: every "
                  "image but busybox removed and `docker builder prune -a -f` on the same daemon")
        print(f"- docker 28 CLI: {DOCKER28} ({cli_version(DOCKER28)}), DOCKER_BUILDKIT=0")
        ok = not self.errors and all(v == "ok" for v in self.checks.values())
        return 0 if ok else 1


def cli_version(cli):
    r = subprocess.run([cli, "--version"], capture_output=True, text=True)
    return r.stdout.strip() or "?"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def common_load():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-dir", required=True, help="directory with berth and berthd")
    ap.add_argument("--tar", required=True, help="busybox rootfs tarball")
    ap.add_argument("--project", required=True, help="where the reference project is kept")
    ap.add_argument("--cold-runs", type=int, default=3,
                    help="rounds, each starting with a cold build (at least 1)")
    ap.add_argument("--noop-runs", type=int, default=5)
    ap.add_argument("--change-runs", type=int, default=3)
    ap.add_argument("--no-docker", action="store_true", help="benchmark Berth alone")
    ap.add_argument("--no-berth", action="store_true", help="benchmark Docker alone")
    ap.add_argument("--no-buildkit", action="store_true", help="skip BuildKit")
    args = ap.parse_args()
    if args.cold_runs < 1:
        ap.error("--cold-runs must be at least 1")

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)

    project = Project(args.project)
    project.ensure()
    bench = Bench(args, project)
    bench.load_start = common_load()
    bench.wanted = []
    done = []

    def cleanup():
        """Daemons, their mounts and temp dirs; the project back to its generated state.
        Runs once: from the finally below, or at exit if something escaped it."""
        if done:
            return
        done.append(True)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)   # a second Ctrl-C must not cut it short
        for e in list(bench.engines):
            try:
                bench.drop_engine(e)
            except Exception as exc:  # keep cleaning the rest
                log(f"cleanup of {e.dir}: {exc}")
        try:
            bench.finish()
        except Exception as exc:
            log(f"cleanup of stopped engines: {exc}")
        project.restore()

    atexit.register(cleanup)
    try:
        bench.run()
    finally:
        cleanup()
    return bench.report()


if __name__ == "__main__":
    sys.exit(main())
