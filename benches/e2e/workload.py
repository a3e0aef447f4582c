#!/usr/bin/env python3
"""Run one workload of cpu.py against a fresh Xspice with any client command (for profiling).

    benches/e2e/workload.py WORKLOAD -- COMMAND ...

WORKLOAD is text, moves or video (as in cpu.py); {uri} in COMMAND is replaced by the Xspice URI.
The client gets a pipe as standard input, closed 1 s after the workload ends (`sumac-cli stats
--until-eof` then prints its counters and exits); it then has 120 s to exit before SIGTERM.
Examples:

    benches/e2e/workload.py text -- perf record -e cpu-clock -F 1999 --call-graph dwarf,16384 \\
        -o text.data target/release/sumac-cli stats {uri} --seconds 3600 --until-eof
    benches/e2e/workload.py text -- strace -f -c -o text.strace target/release/sumac-cli stats {uri} \\
        --seconds 3600 --until-eof
    benches/e2e/workload.py text -- target/release/sumac-cli record {uri} -o text.spicerec --seconds 25
"""
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("cpu", os.path.join(HERE, "cpu.py"))
cpu = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cpu)


def main():
    if len(sys.argv) < 4 or sys.argv[2] != "--" or sys.argv[1] not in cpu.WORKLOADS:
        sys.exit(__doc__)
    name, command = sys.argv[1], sys.argv[3:]
    tmp = tempfile.mkdtemp(prefix="sumac-workload-")
    workload = cpu.WORKLOADS[name](tmp)
    xs = cpu.Xspice(tmp, workload.streaming)
    proc = None
    try:
        workload.prepare(xs)
        time.sleep(0.5)
        uri = f"spice://127.0.0.1:{xs.port}"
        proc = subprocess.Popen([a.replace("{uri}", uri) for a in command], stdin=subprocess.PIPE)
        cpu.wait_for(lambda: cpu.established(xs.port) >= 2, 60, "the client to connect")
        time.sleep(3)  # every channel linked, first frame drawn
        server0, t0 = xs.cpu(), time.time()
        workload.run(xs)
        time.sleep(1)  # the tail of the updates
        print(f"workload {name}: wall {time.time() - t0:.1f} s, Xspice CPU {xs.cpu() - server0:.2f} s",
              file=sys.stderr)
        proc.stdin.close()
        try:
            proc.wait(120)
        except subprocess.TimeoutExpired:
            cpu.stop_pid(proc)
    finally:
        if proc is not None:
            cpu.stop_pid(proc)
        xs.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
