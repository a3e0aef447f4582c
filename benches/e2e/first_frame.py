#!/usr/bin/env python3
"""Connect -> first complete frame: `sumac-cli screenshot` vs `spicy-screenshot`.

Starts one real SPICE server on a free loopback port (QEMU showing SeaBIOS, or
Xspice with an xterm), then runs both clients alternately N times each against
it (never concurrently: a SPICE server serves one client at a time) and prints
the median, min and max wall time of each. Both tools connect, wait for the
first frame, write it to a file and exit, so the wall time of the process is
the figure compared.

Both write a PPM by default (spicy-screenshot only writes PPM), so both do the same work;
`--format png` makes sumac-cli write a PNG (fast compression) instead.

Usage: benches/e2e/first_frame.py [--server qemu|xspice] [--runs 15] [--sumac PATH] [--format ppm|png]
"""
import argparse, os, shutil, signal, socket, statistics, subprocess, sys, tempfile, time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"server did not open port {port}")


def start_qemu(port, tmp):
    p = subprocess.Popen(
        ["qemu-system-x86_64", "-machine", "pc", "-accel", "tcg", "-m", "256", "-nodefaults", "-vga", "qxl",
         "-display", "none", "-spice", f"addr=127.0.0.1,port={port},disable-ticketing=on"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    time.sleep(3)  # let SeaBIOS print its screen
    return [p]


def start_xspice(port, tmp):
    disp = next(d for d in range(70, 200) if not os.path.exists(f"/tmp/.X{d}-lock"))
    env = dict(os.environ, XSPICE_ADDR="127.0.0.1", QXL_FRAME_BUFFER_SIZE="32", QXL_SURFACE_BUFFER_SIZE="128",
               QXL_COMMAND_BUFFER_SIZE="128", QXL_ENABLE_SURFACES="1", QXL_ENABLE_IMAGE_CACHE="1",
               QXL_ENABLE_FALLBACK_CACHE="1")
    p = subprocess.Popen(["Xspice", "--auto", "--numheads", "1", "--port", str(port), "--disable-ticketing",
                          "-logfile", f"{tmp}/xorg.log", "-nolisten", "tcp", "-novtswitch", "-sharevts", f":{disp}"],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    x = subprocess.Popen(["xterm", "-geometry", "80x24+40+40", "-e", "ls -la /usr/bin; sleep 100000"],
                         env=dict(os.environ, DISPLAY=f":{disp}"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(2)
    return [x, p]


def stop(procs):
    for p in procs:
        # For Xspice, the Xorg child must get SIGTERM first (see shared/real-servers.md).
        kids = subprocess.run(["ps", "-o", "pid=", "--ppid", str(p.pid)], capture_output=True, text=True).stdout.split()
        for k in kids:
            try:
                os.kill(int(k), signal.SIGTERM)
            except ProcessLookupError:
                pass
        time.sleep(0.5)
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()


def timed(cmd):
    t = time.perf_counter()
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=60)
    dt = time.perf_counter() - t
    if r.returncode != 0:
        sys.exit(f"{cmd[0]} failed: {r.stderr.strip()}")
    return dt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", choices=["qemu", "xspice"], default="qemu")
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--sumac", default="target/release/sumac-cli")
    ap.add_argument("--format", choices=["ppm", "png"], default="ppm")
    a = ap.parse_args()
    if not shutil.which("spicy-screenshot"):
        sys.exit("spicy-screenshot missing: apt-get install spice-client-gtk")
    tmp = tempfile.mkdtemp()
    port = free_port()
    procs = (start_qemu if a.server == "qemu" else start_xspice)(port, tmp)
    try:
        sumac = [a.sumac, "screenshot", f"spice://127.0.0.1:{port}", "-o", f"{tmp}/s.{a.format}"]
        spicy = ["spicy-screenshot", "-h", "127.0.0.1", "-p", str(port), "-o", f"{tmp}/s.ppm"]
        timed(sumac), timed(spicy)  # warm the page cache and the server
        res = {"sumac-cli": [], "spicy-screenshot": []}
        for _ in range(a.runs):
            res["sumac-cli"].append(timed(sumac))
            res["spicy-screenshot"].append(timed(spicy))
        print(f"server={a.server} runs={a.runs} sumac-cli writes {a.format} (alternating) load={os.getloadavg()[0]:.2f}")
        for k, v in res.items():
            print(f"{k:17s} median {statistics.median(v)*1000:7.1f} ms  min {min(v)*1000:7.1f}  max {max(v)*1000:7.1f}")
    finally:
        stop(procs)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
