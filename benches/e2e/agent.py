#!/usr/bin/env python3
"""Guest agent cost: clipboard round trips (1 KB, 5 MB, both ways) and file-transfer throughput
(50 MB dropped on the window), the `sumac` app against remote-viewer, on ONE real guest.

The measuring is the ignored test `gui::agent_bench::agent_bench_app_vs_remote_viewer` of the
`real` test binary (tests/e2e/real/gui/agent_bench.rs says exactly what each figure is): it boots
the real guest once (tests/guest, QEMU + Xorg + spice-vdagent) and runs the clients in turn,
each on a fresh private Xvfb. This script builds it in release, points it at the release app
(`SUMAC_TEST_APP`, a copy of target/release/sumac), runs it, and prints the medians as a
Markdown table with the load average before and after.

Usage: benches/e2e/agent.py [--rounds 2] [--samples 3] [--file-mb 50]
                            [--clients sumac,remote-viewer] [--app target/release/sumac]
Needs: scripts/setup's real-guest packages, virt-viewer, xvfb, xdotool, xclip, dbus.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEST = "gui::agent_bench::agent_bench_app_vs_remote_viewer"


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=2, help="sessions per client, alternating")
    ap.add_argument("--samples", type=int, default=3, help="clipboard samples per size/direction/session")
    ap.add_argument("--file-mb", type=int, default=50)
    ap.add_argument("--clients", default="sumac,remote-viewer")
    ap.add_argument("--app", default=None, help="the sumac binary (default: <target>/release/sumac)")
    args = ap.parse_args()

    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
    app = args.app or os.path.join(target, "release", "sumac")
    if not os.path.exists(app):
        sys.exit(f"{app} missing: cargo build --release --bin sumac")
    tmp = tempfile.mkdtemp(prefix="sumac-agent-bench-")
    try:
        app_copy = os.path.join(tmp, "sumac")
        shutil.copy2(app, app_copy)
        env = dict(os.environ)
        env.update(
            SUMAC_TEST_APP=app_copy,
            SUMAC_TEST_LOG=env.get("SUMAC_TEST_LOG", "sumac=info"),
            SUMAC_BENCH_ROUNDS=str(args.rounds),
            SUMAC_BENCH_SAMPLES=str(args.samples),
            SUMAC_BENCH_FILE_MB=str(args.file_mb),
            SUMAC_BENCH_CLIENTS=args.clients,
        )
        env.pop("CI", None)
        cmd = ["cargo", "test", "--release", "--test", "real", TEST, "--",
               "--ignored", "--exact", "--nocapture", "--test-threads=1"]
        print("$", " ".join(cmd), file=sys.stderr)
        before = loadavg()
        proc = subprocess.run(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
        after = loadavg()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    # (libtest prints the test's name before its first line, on the same line)
    lines = [l[l.index("BENCH-"):] for l in proc.stdout.splitlines() if "BENCH-" in l]
    sys.stdout.write("".join(l + "\n" for l in lines))
    if proc.returncode != 0:
        sys.exit(f"the benchmark test failed (status {proc.returncode})")
    medians = {}
    for line in lines:
        m = re.match(r"BENCH-MEDIAN (\S+) (\S+) (\S+) \(n=(\d+), min (\S+), max (\S+)\)", line)
        if m:
            what, client, med, n, lo, hi = m.groups()
            medians.setdefault(what, {})[client] = (float(med), int(n), float(lo), float(hi))
    clients = args.clients.split(",")
    print(f"\nload average before {before}, after {after}\n")
    print("| figure | " + " | ".join(clients) + " | ratio |")
    print("|---|" + "---|" * (len(clients) + 1))
    for what in sorted(medians):
        row = medians[what]
        cells = []
        for c in clients:
            if c in row:
                med, n, lo, hi = row[c]
                cells.append(f"{med:.1f} ({lo:.1f}–{hi:.1f}, n={n})")
            else:
                cells.append("–")
        ratio = ""
        if len(clients) == 2 and all(c in row for c in clients) and row[clients[1]][0]:
            ratio = f"{row[clients[0]][0] / row[clients[1]][0]:.2f}×"
        print(f"| {what} | " + " | ".join(cells) + f" | {ratio} |")


if __name__ == "__main__":
    main()
