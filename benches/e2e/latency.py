#!/usr/bin/env python3
"""Key-to-pixel latency of SPICE GUI clients, measured from outside (issue 19 item 3).

A real Xspice shows an xterm running `cat`, filling its screen (no window manager there: the
keyboard focus follows the guest pointer, which the client moves into the window). Each client in turn is started on one Xvfb (with
openbox, so the client's window can be activated as a person would) and its window gets the
pointer and the focus. Then keys are sent with XTest to that Xvfb, alternately `x` and
BackSpace: the client sends each to Xspice, the xterm echoes it (or erases it), Xspice sends the
update, the client draws it. The figure is the time from the XTest call until the client's
pixels around the xterm's cursor differ from what they were before the key, found by polling
that small rectangle of the Xvfb root with XGetImage (sub-millisecond per poll).

Keys are spaced by 150 ms plus a random 0-50 ms, so they never queue and do not lock to any
timer's phase. Clients alternate: each round runs every client once, with a fresh Xspice per
run, in rotating order. The rectangle is found per run by a first, unmeasured key (the
bounding box of what changed on the whole screen).

Usage:
  benches/e2e/latency.py [--keys 60] [--rounds 2] [--clients sumac,remote-viewer]
                         [--sumac target/release/sumac] [--json FILE]
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cpu  # noqa: E402  (the servers and process helpers of the CPU benchmark)
import xprobe  # noqa: E402

CLIENTS = {
    "sumac": lambda a, uri: [a.sumac, uri],
    "remote-viewer": lambda a, uri: ["remote-viewer", uri],
    "spicy": lambda a, uri: ["spicy", "-h", "127.0.0.1", "-p", uri.rsplit(":", 1)[1]],
}


def client_window(pid, env, timeout=30):
    """The client's visible top-level window (by its PID), once it is mapped."""
    end = time.time() + timeout
    while time.time() < end:
        r = subprocess.run(["xdotool", "search", "--onlyvisible", "--pid", str(pid)], env=env,
                           capture_output=True, text=True)
        ids = r.stdout.split()
        if ids:
            return ids[-1]
        time.sleep(0.1)
    raise RuntimeError("the client's window never appeared")


def geometry(wid, env):
    out = subprocess.run(["xdotool", "getwindowgeometry", "--shell", wid], env=env, capture_output=True,
                         text=True).stdout
    g = dict(line.split("=", 1) for line in out.split() if "=" in line)
    return int(g["X"]), int(g["Y"]), int(g["WIDTH"]), int(g["HEIGHT"])


def pad(box, w, h, margin=4):
    x0, y0, x1, y1 = box
    x0, y0 = max(0, x0 - margin), max(0, y0 - margin)
    x1, y1 = min(w, x1 + margin), min(h, y1 + margin)
    return x0, y0, x1 - x0, y1 - y0


def run_one(name, args, desktop, tmp, probe):
    xs = cpu.Xspice(tmp, "filter")
    proc = None
    try:
        # pointerMode 0: xterm would hide the pointer on typing, a second change far from the echo.
        xs.spawn(["xterm", "-xrm", "XTerm*pointerMode: 0", "-geometry", "168x58+0+0", "+j", "-e", "cat"])
        time.sleep(1.5)
        env = desktop.env()
        uri = f"spice://127.0.0.1:{xs.port}"
        proc = subprocess.Popen(CLIENTS[name](args, uri), env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cpu.wait_for(lambda: cpu.established(xs.port) >= 2, 30, f"{name} to connect")
        wid = client_window(proc.pid, env)
        time.sleep(2)  # every channel linked, first frame drawn
        subprocess.run(["xdotool", "windowactivate", "--sync", wid], env=env, capture_output=True, timeout=10)
        x, y, w, h = geometry(wid, env)
        probe.move(x + w // 2, y + h // 2)
        time.sleep(0.5)
        kx, kb = probe.keycode("x"), probe.keycode("BackSpace")
        # Find where the echo shows: one unmeasured key, the box of what changed on the screen.
        before, stride = probe.grab()
        probe.tap(kx)
        time.sleep(1.0)
        after, _ = probe.grab()
        box = xprobe.changed_box(before, after, stride)
        if box is None:
            shot = os.path.join(os.getcwd(), f"latency-{name}-nochange.png")
            subprocess.run(["import", "-window", "root", shot], env=env, capture_output=True)
            raise RuntimeError(f"{name}: the first key changed nothing on the screen (focus?), see {shot}")
        if box[2] - box[0] > 40 or box[3] - box[1] > 40:
            raise RuntimeError(f"{name}: the first key changed more than one character cell: {box}")
        rect = pad(box, probe.width, probe.height)
        probe.tap(kb)
        time.sleep(0.5)
        times, missed = [], 0
        for i in range(args.keys):
            key = kx if i % 2 == 0 else kb
            before, _ = probe.grab(*rect)
            t0 = time.perf_counter()
            probe.tap(key)
            dt = xprobe.wait_change(probe, rect, before, t0, 2.0)
            if dt is None:
                missed += 1
            else:
                times.append(dt)
            time.sleep(0.15 + random.random() * 0.05)
        return {"client": name, "times_ms": [t * 1000 for t in times], "missed": missed, "box": box}
    finally:
        if proc is not None:
            cpu.stop_pid(proc)
        xs.stop()


def pct(values, q):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=60, help="measured keys per run")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--clients", default="sumac,remote-viewer")
    ap.add_argument("--sumac", default=os.path.join(cpu.REPO, "target/release/sumac"))
    ap.add_argument("--json")
    a = ap.parse_args()
    names = a.clients.split(",")
    for n in names:
        if n not in CLIENTS:
            sys.exit(f"unknown client {n}")
    tmp = tempfile.mkdtemp()
    desktop = cpu.Desktop()
    wm = subprocess.Popen(["openbox"], env=desktop.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    probe = xprobe.Display(f":{desktop.display}")
    results = {n: [] for n in names}
    missed = {n: 0 for n in names}
    try:
        time.sleep(1)
        for r in range(a.rounds):
            order = names[r % len(names):] + names[:r % len(names)]
            for n in order:
                res = run_one(n, a, desktop, tmp, probe)
                results[n] += res["times_ms"]
                missed[n] += res["missed"]
                print(f"round {r + 1} {n}: median {statistics.median(res['times_ms']):.1f} ms over "
                      f"{len(res['times_ms'])} keys (missed {res['missed']}), echo box {res['box']}", flush=True)
    finally:
        probe.close()
        cpu.stop_pid(wm)
        desktop.stop()
    print(f"\nkey-to-pixel latency, {a.rounds} rounds x {a.keys} keys, load {os.getloadavg()[0]:.2f}")
    print(f"{'client':15s} {'keys':>5s} {'median':>8s} {'p95':>8s} {'min':>7s} {'max':>7s} missed")
    for n in names:
        v = results[n]
        if not v:
            print(f"{n:15s} no key measured")
            continue
        print(f"{n:15s} {len(v):5d} {statistics.median(v):7.1f}ms {pct(v, 0.95):7.1f}ms {min(v):6.1f}ms "
              f"{max(v):6.1f}ms {missed[n]}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"results": results, "missed": missed}, f)


if __name__ == "__main__":
    main()
