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
       [--before PATH --clients before,sumac,remote-viewer]
"""
import argparse
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


def one(name, a, xs, desktop, probe, timeout=30):
    env = desktop.env()
    cpu.wait_for(lambda: cpu.established(xs.port) == 0, 15, "the previous client to go")
    t0 = time.perf_counter()
    proc = subprocess.Popen(command(name, a, xs.port), env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            img, _ = probe.grab()
            t = time.perf_counter() - t0
            if img.count(PIXEL) >= NEEDED:
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
                res[n].append(one(n, a, xs, desktop, probe))
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
