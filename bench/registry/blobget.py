#!/usr/bin/env python3
"""Load generator for the registry benchmark (stdlib only).

  blobget.py push URL REPO OUT.json [--big N] [--big-mib M] [--small N]
      push N random blobs of M MiB and N small (4 KiB) blobs; write their digests
  blobget.py get URL REPO DIGESTS.json --clients C --seconds S [--pid PID] [--small]
      C threads, each with one keep-alive connection, GET blobs round-robin for S
      seconds; prints one JSON line: bytes, seconds, MB/s, requests, max RSS of PID
"""
import argparse
import hashlib
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse


def conn_for(url):
    u = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=120)


def push_blob(url, repo, data):
    d = "sha256:" + hashlib.sha256(data).hexdigest()
    c = conn_for(url)
    c.request("POST", f"/v2/{repo}/blobs/uploads/", body=b"",
              headers={"Content-Length": "0"})
    r = c.getresponse()
    r.read()
    if r.status != 202:
        sys.exit(f"POST upload: {r.status}")
    loc = r.getheader("Location")
    u = urllib.parse.urlsplit(loc)
    path = u.path + ("?" + u.query + "&" if u.query else "?") + "digest=" + d
    c.request("PUT", path, body=data, headers={
        "Content-Type": "application/octet-stream",
        "Content-Length": str(len(data))})
    r = c.getresponse()
    r.read()
    if r.status != 201:
        sys.exit(f"PUT upload: {r.status}")
    c.close()
    return d


def cmd_push(a):
    out = {"big": [], "small": []}
    rnd = os.urandom
    for _ in range(a.big):
        out["big"].append(push_blob(a.url, a.repo, rnd(a.big_mib << 20)))
    for _ in range(a.small):
        out["small"].append(push_blob(a.url, a.repo, rnd(4096)))
    with open(a.out, "w") as f:
        json.dump(out, f)


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cmd_get(a):
    with open(a.digests) as f:
        digests = json.load(f)["small" if a.small else "big"]
    stop = time.monotonic() + a.seconds
    total = [0] * a.clients
    reqs = [0] * a.clients
    errors = []

    def worker(i):
        c = conn_for(a.url)
        buf = bytearray(1 << 20)
        mv = memoryview(buf)
        k = i
        try:
            while time.monotonic() < stop:
                d = digests[k % len(digests)]
                k += 1
                c.request("GET", f"/v2/{a.repo}/blobs/{d}")
                r = c.getresponse()
                if r.status != 200:
                    errors.append(r.status)
                    r.read()
                    return
                n = 0
                while True:
                    got = r.readinto(mv)
                    if not got:
                        break
                    n += got
                total[i] += n
                reqs[i] += 1
        except Exception as e:  # noqa: BLE001 - report any client failure
            errors.append(repr(e))
        finally:
            c.close()

    rss = [rss_kb(a.pid)] if a.pid else [0]
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(a.clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        if a.pid:
            rss.append(rss_kb(a.pid))
        time.sleep(0.1)
    for t in threads:
        t.join()
    secs = time.monotonic() - t0
    print(json.dumps({
        "bytes": sum(total), "seconds": round(secs, 3),
        "mbps": round(sum(total) / secs / 1e6, 1),
        "requests": sum(reqs), "rps": round(sum(reqs) / secs, 1),
        "rss_start_kb": rss[0], "rss_max_kb": max(rss),
        "errors": errors[:3]}))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    ps = sub.add_parser("push")
    ps.add_argument("url")
    ps.add_argument("repo")
    ps.add_argument("out")
    ps.add_argument("--big", type=int, default=8)
    ps.add_argument("--big-mib", type=int, default=32)
    ps.add_argument("--small", type=int, default=200)
    pg = sub.add_parser("get")
    pg.add_argument("url")
    pg.add_argument("repo")
    pg.add_argument("digests")
    pg.add_argument("--clients", type=int, default=1)
    pg.add_argument("--seconds", type=float, default=10)
    pg.add_argument("--pid", type=int, default=0)
    pg.add_argument("--small", action="store_true")
    a = p.parse_args()
    {"push": cmd_push, "get": cmd_get}[a.cmd](a)


if __name__ == "__main__":
    main()
