#!/usr/bin/env python3
"""`run --rm -v vol:/data busybox true` vs `run --rm busybox true`, per engine.

Started by bench/volumes/run.sh. Uses bench/bench.py's Engine (own daemon, own
roots, cleaned up at the end). Both runs use `--network none` so that only the
volume makes the difference; they alternate, so load drift on this shared
machine hits both alike. The volume exists (made and used once) before timing.
"""

import argparse
import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import bench as common  # noqa: E402  (bench/bench.py: Engine, med, fmt_s, ratio)

BASE = ["run", "--rm", "--network", "none"]


def measure(e, n):
    e.run("docker", "volume", "create", "benchvol")
    e.run("docker", *BASE, "-v", "benchvol:/data", "busybox", "true")  # warm-up
    e.run("docker", *BASE, "busybox", "true")
    plain, vol = [], []
    for _ in range(n):
        plain += common.timed(lambda: e.run("docker", *BASE, "busybox", "true"), 1)
        vol += common.timed(
            lambda: e.run("docker", *BASE, "-v", "benchvol:/data", "busybox", "true"), 1)
    return common.med(plain), common.med(vol)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--tar", required=True)
    ap.add_argument("-n", type=int, default=30)
    ap.add_argument("--no-docker", action="store_true")
    args = ap.parse_args()

    engines = {"berth": common.Engine("berth", args.bin_dir)}
    if not args.no_docker:
        if shutil.which("dockerd") is None:
            common.log("dockerd not found: Docker rows will be n/a")
        else:
            engines["docker"] = common.Engine("docker", args.bin_dir)
    results = {}
    try:
        for k, e in engines.items():
            common.log(f"starting {k} daemon in {e.dir}")
            e.start()
            e.run("docker", "import", "--change", 'CMD ["sh"]', args.tar, "busybox:latest")
        for k, e in engines.items():
            common.log(f"{k}: run --rm with and without a volume, x{args.n}")
            try:
                results[k] = measure(e, args.n)
            except Exception as exc:  # one broken engine must not hide the other's numbers
                common.log(f"{k}: FAILED: {exc}")
    finally:
        for e in engines.values():
            e.stop()
            e.remove_files()

    print()
    print("| engine | run --rm busybox true | run --rm -v vol:/data busybox true | volume / plain |")
    print("| --- | --- | --- | --- |")
    for k in ("berth", "docker"):
        plain, vol = results.get(k, (float("nan"), float("nan")))
        print(f"| {k} | {common.fmt_s(plain)} | {common.fmt_s(vol)} | {common.ratio(vol, plain)} |")
    if "berth" in results:
        plain, vol = results["berth"]
        ok = vol <= plain * 1.10
        print(f"\ntarget (berth: volume run within 10% of the plain run): {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
