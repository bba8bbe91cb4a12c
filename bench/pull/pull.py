#!/usr/bin/env python3
"""Pull and push throughput, Berth vs Docker, from/to a registry on loopback.

Started by bench/pull/run.sh (which builds the release binaries and installs packages).

1. Generates a deterministic 10-layer image (5 compressible text layers, 5 random
   layers, ~20 MB uncompressed each, gzip -6) with a Docker schema2 manifest, cached.
2. Serves it from `berth registry serve` on 127.0.0.1:<free port> as bench/big:1.
3. Starts its own berthd and its own dockerd (Debian's, --bridge none --iptables=false,
   with the containerd it manages) on private sockets and temporary roots.
4. Times `pull` and `push` (to a fresh registry instance each run) with both engines,
   removing the image between runs and checking that the data root shrinks back, so
   every run transfers every byte; samples the daemons' RSS every 50 ms during pulls.
5. Prints a markdown table with medians and ratios; cleans everything up, also on
   Ctrl-C, SIGTERM or an exception.

Every image reference names the 127.0.0.1:<port> registry: no engine ever reaches out.
"""

import argparse
import atexit
import hashlib
import http.client
import io
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time

DOCKER_CLI = os.environ.get("BENCH_DOCKER_CLI") or (
    "/usr/local/bin/docker" if os.path.exists("/usr/local/bin/docker") else "docker")

# Image shape: bump IMAGE_VERSION whenever the generator changes, so caches regenerate.
IMAGE_VERSION = 1
LAYERS = 10
LAYER_BYTES = 20 * 1000 * 1000
FILES_PER_LAYER = 4
SEED = 20261128
MT_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MT_CONFIG = "application/vnd.docker.container.image.v1+json"
MT_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
SRC_REPO = "bench/big"
SRC_TAG = "1"
PUSH_REPO = "bench/pushed"
MB = 1000 * 1000

PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy",
              "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


def log(msg):
    print(f"[bench-pull] {msg}", file=sys.stderr, flush=True)


# /proc helpers shared with bench/bench.py
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from bench import cmdline, descendants, pids, pids_mentioning, ping, ppid, rss_kb  # noqa: E402,F401


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def clean_env():
    e = {k: v for k, v in os.environ.items()
         if k not in PROXY_VARS and k not in ("DOCKER_HOST", "BERTH_HOST")}
    return e


def tree_bytes(path):
    """Disk usage of a tree (allocated blocks, hard links once, not crossing mounts)."""
    try:
        dev = os.lstat(path).st_dev
    except OSError:
        return 0
    seen, total = set(), 0
    for root, dirs, files in os.walk(path):
        keep = []
        for d in dirs:
            try:
                if os.lstat(os.path.join(root, d)).st_dev == dev:
                    keep.append(d)
            except OSError:
                pass
        dirs[:] = keep
        for name in files:
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            if st.st_dev != dev or (st.st_ino in seen):
                continue
            seen.add(st.st_ino)
            total += st.st_blocks * 512
    return total


def kill_tree_and_unmount(top):
    """SIGKILL every process mentioning `top` (and their descendants), unmount
    everything under `top`, then delete `top` without following into mounts."""
    for _ in range(3):
        victims = descendants(pids_mentioning(top))
        if not victims:
            break
        for p in victims:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.5)
    for _ in range(5):
        try:
            with open("/proc/self/mountinfo") as f:
                mounts = [l.split(" ")[4].replace("\\040", " ") for l in f]
        except OSError:
            mounts = []
        mine = sorted({m for m in mounts if m == top or m.startswith(top + "/")},
                      key=len, reverse=True)
        if not mine:
            break
        for m in mine:
            subprocess.run(["umount", "-l", m], capture_output=True)
    try:
        dev = os.lstat(top).st_dev
    except OSError:
        return
    for root, dirs, files in os.walk(top, topdown=False):
        try:
            if os.lstat(root).st_dev != dev:
                continue
        except OSError:
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
        os.rmdir(top)
    except OSError:
        pass


# ---------------------------------------------------------------------------------------
# Image generation

def host_arch():
    m = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le",
            "s390x": "s390x", "riscv64": "riscv64"}.get(m, m)


WORDS = ("container image layer registry manifest digest config overlay namespace cgroup "
         "runtime daemon socket network bridge volume mount process signal kernel berth "
         "docker pull push blob upload chunk stream archive gzip tarball checksum sha256 "
         "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike "
         "november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee "
         "zulu the of and to in is that for it as with was on be by at this from or "
         "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor").split()


def compressible_bytes(rng, n):
    """n bytes of numbered lines of words drawn from a small vocabulary (gzip -6: ~3x)."""
    vocab = WORDS + [f"{w}{rng.randrange(1000)}" for w in WORDS for _ in range(8)]
    parts, size, line = [], 0, 0
    while size < n:
        words = rng.choices(vocab, k=50000)
        chunk = []
        for i in range(0, len(words), 10):
            chunk.append(f"{line:08d} " + " ".join(words[i:i + 10]) + "\n")
            line += 1
        s = "".join(chunk).encode()
        parts.append(s)
        size += len(s)
    return b"".join(parts)[:n]


def layer_tar(index):
    import random
    rng = random.Random(SEED * 100 + index)
    kind = "text" if index % 2 == 0 else "random"
    per_file = LAYER_BYTES // FILES_PER_LAYER
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        def add_dir(name):
            ti = tarfile.TarInfo(name)
            ti.type = tarfile.DIRTYPE
            ti.mode = 0o755
            ti.mtime = 1700000000
            tf.addfile(ti)
        add_dir("data/")
        add_dir(f"data/{index}/")
        for k in range(FILES_PER_LAYER):
            data = compressible_bytes(rng, per_file) if kind == "text" else rng.randbytes(per_file)
            ti = tarfile.TarInfo(f"data/{index}/{kind}-{k}.{'txt' if kind == 'text' else 'bin'}")
            ti.size = len(data)
            ti.mode = 0o644
            ti.mtime = 1700000000
            tf.addfile(ti, io.BytesIO(data))
    return kind, buf.getvalue()


def gzip6(data):
    for tool in ("pigz", "gzip"):
        path = shutil.which(tool)
        if path:
            return subprocess.run([path, "-6", "-n", "-c"], input=data, capture_output=True,
                                  check=True).stdout
    import gzip
    return gzip.compress(data, compresslevel=6, mtime=0)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return "sha256:" + h.hexdigest()


class Image:
    """The generated image: blobs on disk plus the manifest bytes."""

    def __init__(self, cache):
        self.cache = cache
        self.blob_dir = os.path.join(cache, "blobs")
        self.meta_path = os.path.join(cache, "image.json")

    def blob_path(self, digest):
        return os.path.join(self.blob_dir, digest.replace(":", "-"))

    def load_or_generate(self):
        if self._load():
            log(f"image: cached in {self.cache}")
            return
        log(f"image: generating {LAYERS} layers of {LAYER_BYTES / MB:.0f} MB in {self.cache}")
        t0 = time.perf_counter()
        if os.path.isdir(self.cache):
            shutil.rmtree(self.cache)
        os.makedirs(self.blob_dir)
        layers = []
        for i in range(LAYERS):
            kind, tar = layer_tar(i)
            diff_id = "sha256:" + hashlib.sha256(tar).hexdigest()
            gz = gzip6(tar)
            digest = "sha256:" + hashlib.sha256(gz).hexdigest()
            with open(self.blob_path(digest), "wb") as f:
                f.write(gz)
            layers.append({"digest": digest, "size": len(gz), "diff_id": diff_id,
                           "tar_size": len(tar), "kind": kind})
            log(f"  layer {i} ({kind}): {len(tar) / MB:.1f} MB -> {len(gz) / MB:.1f} MB gz")
        created = "2026-11-28T00:00:00Z"
        config = {
            "architecture": host_arch(),
            "os": "linux",
            "created": created,
            "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                       "Cmd": ["/bin/sh"], "WorkingDir": "/"},
            "rootfs": {"type": "layers", "diff_ids": [l["diff_id"] for l in layers]},
            "history": [{"created": created, "created_by": f"bench layer {i} ({l['kind']})"}
                        for i, l in enumerate(layers)],
        }
        config_bytes = json.dumps(config, separators=(",", ":"), sort_keys=True).encode()
        config_digest = "sha256:" + hashlib.sha256(config_bytes).hexdigest()
        with open(self.blob_path(config_digest), "wb") as f:
            f.write(config_bytes)
        manifest = {
            "schemaVersion": 2,
            "mediaType": MT_MANIFEST,
            "config": {"mediaType": MT_CONFIG, "size": len(config_bytes), "digest": config_digest},
            "layers": [{"mediaType": MT_LAYER, "size": l["size"], "digest": l["digest"]}
                       for l in layers],
        }
        manifest_bytes = json.dumps(manifest, indent=3).encode()
        with open(os.path.join(self.cache, "manifest.json"), "wb") as f:
            f.write(manifest_bytes)
        meta = {"version": IMAGE_VERSION, "layers": layers,
                "config": {"digest": config_digest, "size": len(config_bytes)},
                "manifest_digest": "sha256:" + hashlib.sha256(manifest_bytes).hexdigest()}
        with open(self.meta_path, "w") as f:
            json.dump(meta, f, indent=1)
        log(f"image: generated in {time.perf_counter() - t0:.1f} s")
        if not self._load():
            raise RuntimeError("generated image does not verify")

    def _load(self):
        try:
            with open(self.meta_path) as f:
                meta = json.load(f)
            with open(os.path.join(self.cache, "manifest.json"), "rb") as f:
                manifest_bytes = f.read()
        except (OSError, ValueError):
            return False
        if meta.get("version") != IMAGE_VERSION or len(meta.get("layers", [])) != LAYERS:
            return False
        if "sha256:" + hashlib.sha256(manifest_bytes).hexdigest() != meta["manifest_digest"]:
            return False
        for blob in meta["layers"] + [meta["config"]]:
            p = self.blob_path(blob["digest"])
            try:
                if os.path.getsize(p) != blob["size"] or sha256_file(p) != blob["digest"]:
                    return False
            except OSError:
                return False
        self.meta = meta
        self.layers = meta["layers"]
        self.config = meta["config"]
        self.manifest_bytes = manifest_bytes
        self.manifest_digest = meta["manifest_digest"]
        return True

    def load_tar(self):
        """A legacy `docker save` archive of the image (uncompressed layer tars, no tag),
        built once next to the blobs."""
        path = os.path.join(self.cache, "load.tar")
        if os.path.exists(path):
            return path
        import gzip
        tmp = path + ".tmp"
        with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tf:
            def add(name, f, size):
                ti = tarfile.TarInfo(name)
                ti.size = size
                ti.mode = 0o644
                ti.mtime = 1700000000
                tf.addfile(ti, f)
            hexid = self.config["digest"].split(":", 1)[1]
            with open(self.blob_path(self.config["digest"]), "rb") as f:
                add(f"{hexid}.json", f, self.config["size"])
            names = []
            for i, l in enumerate(self.layers):
                names.append(f"layer{i}/layer.tar")
                with gzip.open(self.blob_path(l["digest"]), "rb") as f:
                    add(names[-1], f, l["tar_size"])
            m = json.dumps([{"Config": f"{hexid}.json", "RepoTags": None,
                             "Layers": names}]).encode()
            add("manifest.json", io.BytesIO(m), len(m))
        os.rename(tmp, path)
        return path

    @property
    def compressed_bytes(self):
        return sum(l["size"] for l in self.layers) + self.config["size"]

    @property
    def uncompressed_bytes(self):
        return sum(l["tar_size"] for l in self.layers)


# ---------------------------------------------------------------------------------------
# Registry

def http_request(port, method, path, body=None, headers=None, timeout=120):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data
    finally:
        conn.close()


class Registry:
    """`berth registry serve` on 127.0.0.1:<free port> with its own root."""

    def __init__(self, berth_bin, top, name):
        self.berth_bin = berth_bin
        self.dir = os.path.join(top, name)
        self.root = os.path.join(self.dir, "root")
        os.makedirs(self.root)
        self.logf = os.path.join(self.dir, "registry.log")
        self.port = None
        self.proc = None

    @property
    def host(self):
        return f"127.0.0.1:{self.port}"

    def start(self):
        for attempt in range(5):
            self.port = free_port()
            lf = open(self.logf, "ab")
            self.proc = subprocess.Popen(
                [self.berth_bin, "registry", "serve", "--addr", self.host, "--root", self.root],
                stdin=subprocess.DEVNULL, stdout=lf, stderr=lf, env=clean_env())
            lf.close()
            deadline = time.time() + 20
            while time.time() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    status, _, _ = http_request(self.port, "GET", "/v2/", timeout=2)
                    if status in (200, 401):
                        return
                except OSError:
                    pass
                time.sleep(0.05)
            self.stop()
            log(f"registry on port {self.port} did not come up (attempt {attempt + 1}); "
                f"log:\n{self.tail()}")
        raise RuntimeError(f"`berth registry serve` does not start; see {self.logf}")

    def tail(self, n=20):
        try:
            with open(self.logf, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def stop(self):
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def upload_blob(self, repo, digest, path):
        status, _, _ = http_request(self.port, "HEAD", f"/v2/{repo}/blobs/{digest}")
        if status == 200:
            return
        status, hdrs, body = http_request(self.port, "POST", f"/v2/{repo}/blobs/uploads/")
        if status != 202 or "location" not in hdrs:
            raise RuntimeError(f"POST blobs/uploads/: {status} {body[:300]!r}")
        loc = hdrs["location"]
        if loc.startswith("http://") or loc.startswith("https://"):
            loc = "/" + loc.split("/", 3)[3]
        sep = "&" if "?" in loc else "?"
        with open(path, "rb") as f:
            data = f.read()
        status, _, body = http_request(
            self.port, "PUT", f"{loc}{sep}digest={digest}", body=data,
            headers={"Content-Type": "application/octet-stream",
                     "Content-Length": str(len(data))})
        if status != 201:
            raise RuntimeError(f"PUT upload of {digest}: {status} {body[:300]!r}")

    def upload_image(self, image, repo, tag):
        for blob in image.layers + [image.config]:
            self.upload_blob(repo, blob["digest"], image.blob_path(blob["digest"]))
        status, hdrs, body = http_request(
            self.port, "PUT", f"/v2/{repo}/manifests/{tag}", body=image.manifest_bytes,
            headers={"Content-Type": MT_MANIFEST})
        if status != 201:
            raise RuntimeError(f"PUT manifest: {status} {body[:300]!r}")
        got = hdrs.get("docker-content-digest")
        if got and got != image.manifest_digest:
            raise RuntimeError(f"registry answered digest {got}, expected {image.manifest_digest}")

    def pushed_bytes(self, repo, tag):
        """Sum of the sizes of the blobs the manifest at repo:tag references, and its
        layer count; fails when the manifest or any blob is missing."""
        accept = ", ".join([MT_MANIFEST, "application/vnd.oci.image.manifest.v1+json"])
        status, _, body = http_request(self.port, "GET", f"/v2/{repo}/manifests/{tag}",
                                       headers={"Accept": accept})
        if status != 200:
            raise RuntimeError(f"pushed manifest {repo}:{tag} not found: {status}")
        m = json.loads(body)
        self.last_layer_digests = [l["digest"] for l in m["layers"]]
        total = 0
        for blob in m["layers"] + [m["config"]]:
            status, hdrs, _ = http_request(self.port, "HEAD", f"/v2/{repo}/blobs/{blob['digest']}")
            if status != 200:
                raise RuntimeError(f"pushed blob {blob['digest']} missing: {status}")
            total += int(hdrs.get("content-length", blob["size"]))
        return total, len(m["layers"])


# ---------------------------------------------------------------------------------------
# Engines

class Engine:
    """One daemon (berthd or dockerd) on its own roots under `top`."""

    def __init__(self, kind, bin_dir, top):
        self.kind = kind
        self.dir = os.path.join(top, kind)
        os.makedirs(self.dir)
        self.sock = os.path.join(self.dir, "s.sock")
        self.host = f"unix://{self.sock}"
        self.data = os.path.join(self.dir, "d")
        self.exec_root = os.path.join(self.dir, "e")
        self.logf = os.path.join(self.dir, "daemon.log")
        self.bin_dir = bin_dir
        self.proc = None
        self.cfg = os.path.join(self.dir, "cli-config")
        os.makedirs(self.cfg)
        with open(os.path.join(self.cfg, "config.json"), "w") as f:
            f.write("{}\n")
        self.daemon_json = os.path.join(self.dir, "daemon.json")
        with open(self.daemon_json, "w") as f:
            f.write("{}\n")

    def daemon_argv(self):
        if self.kind == "berth":
            return [os.path.join(self.bin_dir, "berthd"), "-H", self.host,
                    "--data-root", self.data, "--exec-root", self.exec_root,
                    "--bridge", "none", "--config-file", self.daemon_json,
                    "--log-level", "info"]
        return ["dockerd", "--host", self.host, "--data-root", self.data,
                "--exec-root", self.exec_root, "--pidfile", os.path.join(self.dir, "docker.pid"),
                "--config-file", self.daemon_json, "--bridge", "none", "--iptables=false",
                "--ip6tables=false", "--log-level", "warn"]

    def start(self):
        os.makedirs(self.data, exist_ok=True)
        os.makedirs(self.exec_root, exist_ok=True)
        lf = open(self.logf, "ab")
        self.proc = subprocess.Popen(self.daemon_argv(), stdin=subprocess.DEVNULL,
                                     stdout=lf, stderr=lf, env=clean_env())
        lf.close()
        deadline = time.time() + 60
        while not ping(self.sock):
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} daemon exited; see {self.logf}:\n" + self.tail())
            if time.time() > deadline:
                raise RuntimeError(f"{self.kind} daemon did not answer; see {self.logf}")
            time.sleep(0.02)

    def tail(self, n=30):
        try:
            with open(self.logf, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def env(self):
        e = clean_env()
        e.update(DOCKER_CONFIG=self.cfg, DOCKER_CLI_HINTS="false", BERTH_HOST=self.host)
        return e

    def cli(self):
        if self.kind == "berth":
            return [os.path.join(self.bin_dir, "berth"), "-H", self.host]
        return [DOCKER_CLI, "-H", self.host]

    def run(self, *args, check=True, timeout=600):
        argv = self.cli() + list(args)
        try:
            r = subprocess.run(argv, env=self.env(), capture_output=True, text=True,
                               timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"{' '.join(argv)} hung for {timeout} s")
        if check and r.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited {r.returncode}: "
                               f"{(r.stdout + r.stderr).strip()[-2000:]}")
        return r

    def group(self):
        """The daemon and every process below it (dockerd: containerd, unpigz, ...)."""
        if not self.proc:
            return set()
        return descendants([self.proc.pid])

    def disk(self):
        return tree_bytes(self.data)

    def stop(self):
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


class RssSampler:
    """Peak summed RSS of a process group, sampled every 50 ms in a thread (the group
    itself is re-read once a second: walking /proc costs more than reading a few files)."""

    def __init__(self, engine):
        self.engine = engine
        self.peak_kb = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        group, refreshed = set(), 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            if now - refreshed >= 1.0:
                group, refreshed = self.engine.group(), now
            self.peak_kb = max(self.peak_kb, sum(rss_kb(p) for p in group))
            self._stop.wait(0.05)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


# ---------------------------------------------------------------------------------------
# Benchmark

def med(xs):
    return statistics.median(xs) if xs else None


def fmt_s(x):
    return "n/a" if x is None else f"{x:.2f} s"


def fmt_mbs(x):
    return "n/a" if x is None else f"{x:.1f} MB/s"


def fmt_mib(kb):
    return "n/a" if kb is None else f"{kb / 1024:.0f} MiB"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "n/a"
    return f"{a / b:.2f}x"


class Bench:
    def __init__(self, args, image, top):
        self.args = args
        self.image = image
        self.top = top
        self.berth_bin = os.path.join(args.bin_dir, "berth")
        self.src = None
        self.engines = {}
        self.res = {}       # (kind, what) -> list of values
        self.notes = []     # warnings that qualify the numbers
        self.errors = {}    # (kind, what) -> first error text
        self.push_n = 0
        self.load_start = loadavg()
        self.load_end = None

    def ref(self):
        return f"{self.src.host}/{SRC_REPO}:{SRC_TAG}"

    def add(self, kind, what, value):
        self.res.setdefault((kind, what), []).append(value)

    def verify_pulled(self, e):
        """The pulled image must have exactly our layers (diff IDs) and config ID."""
        info = json.loads(e.run("image", "inspect", self.ref()).stdout)
        info = info[0] if isinstance(info, list) else info
        layers = (info.get("RootFS") or {}).get("Layers") or []
        want = [l["diff_id"] for l in self.image.layers]
        if layers != want:
            raise RuntimeError(f"{e.kind}: pulled image has layers {layers}, expected {want}")
        if info.get("Id") != self.image.config["digest"]:
            raise RuntimeError(f"{e.kind}: pulled image ID {info.get('Id')}, "
                               f"expected {self.image.config['digest']}")

    def remove_all(self, e, baseline):
        """rmi every tag (and prune when that is not enough) until the data root is back
        near its size before the first pull; returns False when it never gets there."""
        e.run("rmi", "-f", self.ref(), check=False)
        r = e.run("images", "-q", "--no-trunc", check=False)
        for img in r.stdout.split():
            e.run("rmi", "-f", img, check=False)
        slack = self.image.compressed_bytes * 0.2
        if e.disk() <= baseline + slack:
            return True
        e.run("image", "prune", "-a", "-f", check=False)
        time.sleep(0.5)
        size = e.disk()
        if size <= baseline + slack:
            note = f"{e.kind}: `rmi` left the layers on disk; `image prune -a -f` was needed"
            if note not in self.notes:
                self.notes.append(note)
            return True
        self.notes.append(f"{e.kind}: data root still {size / MB:.0f} MB after rmi + prune "
                          f"(baseline {baseline / MB:.0f} MB): later runs may reuse cached "
                          "layers, so its numbers are suspect")
        return False

    def one_run(self, e, i):
        kind = e.kind
        baseline = self.res.get((kind, "baseline"), [None])[0]
        # pull
        with RssSampler(e) as rss:
            t0 = time.perf_counter()
            e.run("pull", self.ref())
            dt = time.perf_counter() - t0
        self.add(kind, "pull", dt)
        self.add(kind, "pull_rss", rss.peak_kb)
        after = e.disk()
        self.add(kind, "disk_after_pull", after)
        self.verify_pulled(e)
        log(f"  {kind} pull #{i + 1}: {dt:.2f} s "
            f"({self.image.compressed_bytes / MB / dt:.1f} MB/s), peak RSS "
            f"{rss.peak_kb / 1024:.0f} MiB, data root +{(after - baseline) / MB:.0f} MB")
        # push, to a registry that has never seen any of it
        self.timed_push(e, i, self.ref(), "push")
        if not self.remove_all(e, baseline):
            log(f"  {kind}: data root did not shrink back after rmi")
        self.add(kind, "disk_after_rmi", e.disk())
        if self.args.no_cold_push:
            return
        # push of the same image loaded from an uncompressed `docker save` archive: no
        # engine has a compressed blob of any layer, so the push must compress them all
        e.run("load", "-i", self.image.load_tar())
        self.timed_push(e, i, self.image.config["digest"], "cold_push")
        if not self.remove_all(e, baseline):
            log(f"  {kind}: data root did not shrink back after rmi")

    def timed_push(self, e, i, src_ref, what):
        """Tag src_ref for a fresh registry instance, time `push`, check what arrived."""
        kind = e.kind
        self.push_n += 1
        dst = Registry(self.berth_bin, self.top, f"push-{kind}-{self.push_n}")
        try:
            dst.start()
            dst_ref = f"{dst.host}/{PUSH_REPO}:1"
            e.run("tag", src_ref, dst_ref)
            t0 = time.perf_counter()
            try:
                e.run("push", dst_ref)
                dt = time.perf_counter() - t0
                nbytes, nlayers = dst.pushed_bytes(PUSH_REPO, "1")
                if nlayers != LAYERS:
                    raise RuntimeError(f"pushed manifest has {nlayers} layers")
                same = sum(1 for d in dst.last_layer_digests
                           if d in {l["digest"] for l in self.image.layers})
                self.add(kind, f"{what}_same_blobs", same)
                self.add(kind, what, dt)
                self.add(kind, f"{what}_bytes", nbytes)
                log(f"  {kind} {what} #{i + 1}: {dt:.2f} s, {nbytes / MB:.1f} MB "
                    f"({nbytes / MB / dt:.1f} MB/s)")
            except Exception as exc:
                self.errors.setdefault((kind, what), str(exc))
                log(f"  {kind} {what} #{i + 1}: FAILED: {exc}")
            e.run("rmi", dst_ref, check=False)
        finally:
            dst.stop()
            kill_tree_and_unmount(dst.dir)

    def run(self):
        log(f"starting source registry ({self.berth_bin} registry serve)")
        self.src = Registry(self.berth_bin, self.top, "src-registry")
        self.src.start()
        t0 = time.perf_counter()
        self.src.upload_image(self.image, SRC_REPO, SRC_TAG)
        log(f"uploaded {self.image.compressed_bytes / MB:.1f} MB to {self.ref()} in "
            f"{time.perf_counter() - t0:.1f} s")

        kinds = []
        if not self.args.no_berth:
            kinds.append("berth")
        if not self.args.no_docker:
            if shutil.which("dockerd") is None:
                log("dockerd not found: Docker columns will be n/a (apt-get install docker.io)")
                self.errors[("docker", "start")] = "dockerd not found"
            else:
                kinds.append("docker")
        for k in kinds:
            e = Engine(k, self.args.bin_dir, self.top)
            self.engines[k] = e
            log(f"starting {k} daemon in {e.dir}")
            try:
                e.start()
            except Exception as exc:
                self.errors[(k, "start")] = str(exc)
                log(f"{k}: daemon failed to start: {exc}")
                del self.engines[k]
                continue
            self.res[(k, "baseline")] = [e.disk()]
            with RssSampler(e) as rss:
                time.sleep(0.3)
            self.res[(k, "idle_rss")] = [rss.peak_kb]

        broken = set()
        for i in range(self.args.runs):
            for k, e in self.engines.items():  # interleaved: drift hits both alike
                if k in broken:
                    continue
                try:
                    self.one_run(e, i)
                except Exception as exc:
                    self.errors.setdefault((k, "pull"), str(exc))
                    log(f"{k} run #{i + 1}: FAILED: {exc}")
                    if e.proc and e.proc.poll() is not None:
                        log(f"{k} daemon died; log tail:\n{e.tail()}")
                        broken.add(k)
                    try:
                        self.remove_all(e, self.res[(k, "baseline")][0])
                    except Exception:
                        pass
                    if i == 0:  # the first run already fails: no point in retrying
                        broken.add(k)
        self.load_end = loadavg()

    def report(self):
        g = lambda k, w: med(self.res.get((k, w), []))  # noqa: E731
        img = self.image
        nbytes = img.compressed_bytes

        def tput(k):
            t = g(k, "pull")
            return None if t is None else nbytes / MB / t

        def push_tput(k, what="push"):
            t, b = g(k, what), g(k, f"{what}_bytes")
            return None if t is None or b is None else b / MB / t

        def ucold(k):
            t = g(k, "cold_push")
            return None if t is None else img.uncompressed_bytes / MB / t

        def grow(k):
            after = self.res.get((k, "disk_after_pull"))
            return None if not after else max(after) - self.res[(k, "baseline")][0]

        print()
        print(f"## Pull/push, Berth vs Docker, loopback registry "
              f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, "
              f"kernel {os.uname().release}, load average {self.load_start} at the start, "
              f"{self.load_end or loadavg()} at the end)")
        print()
        print(f"Image: {LAYERS} layers ({LAYERS // 2} compressible text, {LAYERS - LAYERS // 2} "
              f"random), {img.uncompressed_bytes / MB:.0f} MB uncompressed, "
              f"{nbytes / MB:.1f} MB gzip -6 (MB = 10^6 bytes). Median of {self.args.runs} runs; "
              "the image is removed between runs (data root checked) and every push goes to a "
              "fresh registry.")
        print()
        print("| measurement | Berth | Docker | Berth / Docker |")
        print("| --- | --- | --- | --- |")
        rows = [
            ("`pull` wall time (lower is better)", g("berth", "pull"), g("docker", "pull"), fmt_s),
            ("`pull` throughput, compressed bytes / time (higher is better)",
             tput("berth"), tput("docker"), fmt_mbs),
            ("`push` to an empty registry, wall time", g("berth", "push"), g("docker", "push"),
             fmt_s),
            ("`push` throughput, pushed blob bytes / time", push_tput("berth"),
             push_tput("docker"), fmt_mbs),
            ("bytes pushed (gzip blobs + config as stored by the registry)",
             g("berth", "push_bytes"), g("docker", "push_bytes"),
             lambda v: "n/a" if v is None else f"{v / MB:.1f} MB"),
            ("`push` of the image `load`ed from an uncompressed archive (every layer must be "
             "compressed), wall time", g("berth", "cold_push"), g("docker", "cold_push"), fmt_s),
            ("same, throughput (pushed blob bytes / time)", push_tput("berth", "cold_push"),
             push_tput("docker", "cold_push"), fmt_mbs),
            ("same, bytes pushed (each engine's own gzip level)", g("berth", "cold_push_bytes"),
             g("docker", "cold_push_bytes"),
             lambda v: "n/a" if v is None else f"{v / MB:.1f} MB"),
            ("same, layer data compressed and sent per second (uncompressed bytes / time)",
             ucold("berth"), ucold("docker"), fmt_mbs),
            ("peak RSS during `pull` (berthd vs dockerd + containerd + children)",
             max(self.res.get(("berth", "pull_rss"), []), default=None),
             max(self.res.get(("docker", "pull_rss"), []), default=None), fmt_mib),
            ("idle RSS before the first pull", g("berth", "idle_rss"), g("docker", "idle_rss"),
             fmt_mib),
            ("data root growth after a pull", grow("berth"), grow("docker"),
             lambda v: "n/a" if v is None else f"{v / MB:.0f} MB"),
        ]
        for name, a, b, f in rows:
            print(f"| {name} | {f(a)} | {f(b)} | {ratio(a, b)} |")
        print()
        bt, dt = tput("berth"), tput("docker")
        if bt is not None and dt is not None:
            ok = bt >= 2 * dt
            print(f"- target pull ≥ 2x Docker: {'MET' if ok else 'NOT MET'} "
                  f"({bt / dt:.2f}x; Podman measured 77 MB/s in the issue, not here)")
        bp, bc = push_tput("berth"), push_tput("berth", "cold_push")
        if bp is not None:
            print(f"- target push ≥ Podman (78 MB/s in the issue; Podman is not installed here): "
                  f"{'MET' if bp >= 78 else 'NOT MET'} ({bp:.1f} MB/s after a pull"
                  + (f"; {bc:.1f} MB/s when every layer must be compressed)" if bc else ")"))
        for k in ("berth", "docker"):
            for w in ("pull", "push", "cold_push"):
                xs = self.res.get((k, w))
                if xs:
                    print(f"- {k} {w} runs: " + ", ".join(f"{x:.2f} s" for x in xs))
            for w in ("push", "cold_push"):
                same = self.res.get((k, f"{w}_same_blobs"))
                if same:
                    print(f"- {k} {w}: {min(same)}/{LAYERS} pushed layer blobs are byte-identical"
                          f" to the registry's originals, {LAYERS - min(same)} were compressed "
                          "anew")
            disk = self.res.get((k, "disk_after_pull"))
            if disk:
                base = self.res[(k, "baseline")][0]
                after = self.res.get((k, "disk_after_rmi"), [])
                print(f"- {k} data root: {base / MB:.1f} MB before, "
                      f"{max(disk) / MB:.0f} MB after a pull, "
                      + ", ".join(f"{a / MB:.1f}" for a in after) + " MB after each rmi")
        for (k, w), err in sorted(self.errors.items()):
            print(f"- {k} {w} FAILED: {err.strip().splitlines()[-1][:400] if err.strip() else err}")
        for n in self.notes:
            print(f"- note: {n}")
        print(f"- Berth binaries: {os.path.realpath(self.args.bin_dir)}; registry: "
              "`berth registry serve` on 127.0.0.1")
        if "docker" in self.engines:
            ver = subprocess.run(["dockerd", "--version"], capture_output=True, text=True).stdout
            print(f"- Docker: Debian's dockerd ({ver.strip()}) with --bridge none "
                  f"--iptables=false; CLI {DOCKER_CLI}; unpigz "
                  f"{'present' if shutil.which('unpigz') else 'absent (dockerd decompresses in-process)'}")
        wanted = [k for k in ("berth", "docker") if not getattr(self.args, f"no_{k}")]
        ok = all(g(k, "pull") is not None and g(k, "push") is not None for k in wanted)
        return 0 if ok and wanted else 1


_cleanups = []


def run_cleanups():
    """Idempotent; a second Ctrl-C or SIGTERM while cleaning up is ignored."""
    if _cleanups:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
    while _cleanups:
        fn = _cleanups.pop()
        try:
            fn()
        except Exception as exc:  # keep cleaning the rest
            log(f"cleanup: {exc}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-dir", required=True, help="directory with berth and berthd")
    ap.add_argument("--cache", required=True, help="where the generated image is kept")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-docker", action="store_true", help="benchmark berthd alone")
    ap.add_argument("--no-berth", action="store_true", help="benchmark dockerd alone")
    ap.add_argument("--no-cold-push", action="store_true",
                    help="skip the push of the image loaded from an uncompressed archive")
    args = ap.parse_args()

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    atexit.register(run_cleanups)

    image = Image(args.cache)
    image.load_or_generate()

    top = tempfile.mkdtemp(prefix="bpull-", dir="/tmp")
    _cleanups.append(lambda: kill_tree_and_unmount(top))
    bench = Bench(args, image, top)

    def stop_all():
        for e in bench.engines.values():
            e.stop()
        if bench.src:
            bench.src.stop()
    _cleanups.append(stop_all)
    try:
        bench.run()
    finally:
        for k, e in bench.engines.items():
            if e.proc and e.proc.poll() is not None:
                log(f"{k} daemon died; log tail:\n{e.tail()}")
        run_cleanups()
    return bench.report()


if __name__ == "__main__":
    sys.exit(main())
