#!/usr/bin/env python3
"""Launch -> the guest's picture in the window: GUI clients measured from outside (issue 19 item 2).

A real Xspice (1024x768) shows a solid, unusual colour (#1f7a3c) and nothing else. Each client
is started on one Xvfb (1280x1024, openbox) and the clock runs from just before the process is
spawned until at least half of the guest's pixels (393,216 of them) show that colour on the
Xvfb's root image, polled with XGetImage (about every 10 ms: the figure's resolution). Whatever
the client does first (GTK start-up, connect, link every channel, first draw, mapping the
window) counts, as a person waiting for the picture would count it.

One Xspice serves every run (a SPICE server serves one client at a time); the clients alternate,
one unmeasured warm-up run each first (the page cache, the first GTK client on the Xvfb).

Usage: benches/e2e/first_picture.py [--runs 10] [--clients sumac,remote-viewer] [--sumac PATH]
       [--before PATH --clients before,sumac,remote-viewer] [--trace DIR]

--trace DIR: the Sumac clients run with RUST_LOG=sumac=debug, their log goes to DIR/<client>-<run>.log
and each run's log lines are printed in ms after the spawn (the log's timestamps against the
spawn's wall clock; logging costs a little itself, so traced runs are not the figures).
"""
import argparse
import datetime
import re
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cpu  # noqa: E402
import xprobe  # noqa: E402

COLOUR = "#1f7a3c"
PIXEL = bytes([0x3C, 0x7A, 0x1F])  # B, G, R as a 32-bit ZPixmap holds them
NEEDED = 1024 * 768 // 2


def command(name, a, port):
    uri = f"spice://127.0.0.1:{port}"
    return {"sumac": [a.sumac, uri], "before": [a.before, uri], "remote-viewer": ["remote-viewer", uri],
            "spicy": ["spicy", "-h", "127.0.0.1", "-p", str(port)]}[name]


def milestones(log, spawn_epoch, picture_ms):
    """Prints each log line with its offset (ms after the spawn), up to the picture and a little after."""
    out = []
    for line in open(log, errors="replace"):
        m = re.match(r"\s*(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z\s+\w+\s+(.*)", line)
        if not m:
            continue
        ts = datetime.datetime.fromisoformat(m.group(1)).replace(tzinfo=datetime.timezone.utc).timestamp()
        out.append(((ts - spawn_epoch) * 1000, m.group(2)[:130]))
    print(f"--- {os.path.basename(log)}: picture at {picture_ms:.1f} ms")
    for ms, text in out:
        print(f"  {ms:7.1f}  {text}")


def one(name, a, xs, desktop, probe, timeout=30, log=None):
    env = desktop.env()
    if log:
        env = dict(env, RUST_LOG="sumac=debug,info")
    cpu.wait_for(lambda: cpu.established(xs.port) == 0, 15, "the previous client to go")
    # On a loaded machine the previous client's window can outlive its connection for a moment.
    cpu.wait_for(lambda: probe.grab()[0].count(PIXEL) < NEEDED, 15, "the previous picture to go")
    err = open(log, "w") if log else subprocess.DEVNULL
    spawn_epoch = time.time()
    t0 = time.perf_counter()
    proc = subprocess.Popen(command(name, a, xs.port), env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=err)
    try:
        while True:
            img, _ = probe.grab()
            t = time.perf_counter() - t0
            if img.count(PIXEL) >= NEEDED:
                if log:
                    time.sleep(0.3)
                    err.close()
                    milestones(log, spawn_epoch, t * 1000)
                return t
            if t > timeout or proc.poll() is not None:
                raise RuntimeError(f"{name}: no picture after {t:.1f} s (exit {proc.poll()})")
    finally:
        cpu.stop_pid(proc)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--clients", default="sumac,remote-viewer")
    ap.add_argument("--sumac", default=os.path.join(cpu.REPO, "target/release/sumac"))
    ap.add_argument("--before", help="another sumac build, client name 'before' (before/after runs)")
    ap.add_argument("--trace", help="directory for the Sumac clients' debug logs (see the module docs)")
    a = ap.parse_args()
    names = a.clients.split(",")
    tmp = tempfile.mkdtemp()
    desktop = cpu.Desktop()
    wm = subprocess.Popen(["openbox"], env=desktop.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    xs = cpu.Xspice(tmp, "filter")
    probe = xprobe.Display(f":{desktop.display}")
    res = {n: [] for n in names}
    try:
        xs.run(["xsetroot", "-solid", COLOUR])
        time.sleep(1)
        for n in names:
            one(n, a, xs, desktop, probe)  # warm-up
        for r in range(a.runs):
            for n in names[r % len(names):] + names[:r % len(names)]:
                log = None
                if a.trace and n in ("sumac", "before"):
                    os.makedirs(a.trace, exist_ok=True)
                    log = os.path.join(a.trace, f"{n}-{r}.log")
                res[n].append(one(n, a, xs, desktop, probe, log=log))
    finally:
        probe.close()
        xs.stop()
        cpu.stop_pid(wm)
        desktop.stop()
    print(f"launch -> guest picture in the window, {a.runs} runs each (alternating), "
          f"load {os.getloadavg()[0]:.2f}")
    for n, v in res.items():
        ms = [x * 1000 for x in v]
        print(f"{n:15s} median {statistics.median(ms):7.1f} ms  min {min(ms):7.1f}  max {max(ms):7.1f}")


if __name__ == "__main__":
    main()
