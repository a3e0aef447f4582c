#!/usr/bin/env python3
"""Client cost of sound: CPU seconds and peak RSS of SPICE clients playing 30 s of Opus from the
same Xspice, into the same private PulseAudio (null sink), one client at a time.

For every (client, run): a fresh Xspice (--audio-fifo-dir, XSPICE_PLAYBACK_COMPRESSION=1, so the
playback channel is Opus), the client started with the private PulseAudio's environment, 6 s to
link, then 30 s of a 440 Hz tone written into the audio FIFO (Xspice reads it in real time).
Measured on the client's process tree from /proc: utime+stime during the 30 s of sound, and the
peak RSS (VmHWM summed) at the end. The tone recorded from the null sink's monitor is checked
(frequency by zero crossings) so a client that played nothing does not look cheap. For
`sumac-cli`, its audio counters (packets, underruns) are printed; for both Sumac clients the sink
delays the playback channel logs (debug, at START and every 100 packets: ring + device output
delay, i.e. packet arrival to the device) are summarised. The binaries come from
`$CARGO_TARGET_DIR/release` (default `target/release`); `--perf PREFIX` records a profile of each
client during its sound (perf record, DWARF call graphs).

Clients: sumac (the GTK app, drawing into this script's Xvfb), sumac-cli (`stats --audio-device`,
headless), remote-viewer (virt-viewer 11 / spice-gtk 0.42, GStreamer pulsesink); for A/B runs
sumac-before (the app binary given by --before) and sumac+pN (the app with
SUMAC_AUDIO_PERIOD_MS=N: a device period of N ms, 0 = the device's own).

Usage: benches/e2e/audio.py [--runs 3] [--clients sumac,sumac-cli,remote-viewer] [--seconds 30]
                            [--before BIN] [--perf PREFIX] [--load N]
Needs: target/release/sumac and sumac-cli, xserver-xspice, virt-viewer, xvfb, pulseaudio,
pulseaudio-utils, libasound2-plugins.
"""
import argparse
import math
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def tree(pid):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        if p in out or not os.path.exists(f"/proc/{p}"):
            continue
        out.append(p)
        todo.extend(children(p))
    return out


def cpu(pids):
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                rest = f.read().rsplit(")", 1)[1].split()
            total += sum(int(x) for x in rest[11:15])
        except OSError:
            pass
    return total / CLK_TCK


def hwm_kib(pids):
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def sine_pcm(freq, seconds):
    n = int(48000 * seconds)
    out = bytearray()
    for i in range(n):
        v = int(12000 * math.sin(2 * math.pi * freq * i / 48000))
        out += struct.pack("<hh", v, v)
    return bytes(out)


def tone_freq(raw):
    x = [struct.unpack_from("<h", raw, i)[0] for i in range(0, len(raw) - 3, 4)]
    if not x:
        return None, 0.0
    peak = max(abs(v) for v in x)
    if peak < 100:
        return None, 0.0
    thr = peak / 10
    idx = [i for i, v in enumerate(x) if abs(v) > thr]
    seg = x[idx[0]: idx[-1] + 1]
    h, state, cross = thr / 2, 0, []
    for i, v in enumerate(seg):
        s = 1 if v > h else (-1 if v < -h else 0)
        if s == 0:
            continue
        if state and s != state:
            cross.append(i)
        state = s
    if len(cross) < 3:
        return None, 0.0
    return (len(cross) - 1) / 2 / ((cross[-1] - cross[0]) / 48000), len(seg) / 48000


def gaps(raw):
    """Breaks in the tone as recorded (device or PulseAudio underruns): stretches of at least
    2 ms below a tenth of the peak inside the heard span (a 440 Hz sine spends 0.07 ms there
    per zero crossing). Returns (count, total ms)."""
    x = [abs(struct.unpack_from("<h", raw, i)[0]) for i in range(0, len(raw) - 3, 4)]
    peak = max(x, default=0)
    if peak < 100:
        return 0, 0.0
    thr = peak / 10
    idx = [i for i, v in enumerate(x) if v > thr]
    count, total, run = 0, 0, 0
    for v in x[idx[0]: idx[-1] + 1]:
        if v <= thr:
            run += 1
            continue
        if run >= 96:
            count, total = count + 1, total + run
        run = 0
    return count, total / 48


class Pulse:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="sumac-bench-pulse-")
        self.run = os.path.join(self.dir, "run")
        self.home = os.path.join(self.dir, "home")
        os.makedirs(self.run, mode=0o700)
        os.makedirs(self.home)
        with open(os.path.join(self.home, ".asoundrc"), "w") as f:
            f.write("pcm.!default { type pulse }\nctl.!default { type pulse }\n")
        script = os.path.join(self.dir, "default.pa")
        with open(script, "w") as f:
            f.write("load-module module-native-protocol-unix\n"
                    "load-module module-null-sink sink_name=out rate=48000 channels=2\n"
                    "set-default-sink out\n")
        self.env = dict(os.environ, HOME=self.home, XDG_RUNTIME_DIR=self.run)
        self.env.pop("PULSE_SERVER", None)
        self.proc = subprocess.Popen(["pulseaudio", "-n", "-F", script, "--daemonize=no",
                                      "--exit-idle-time=-1"], env=self.env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        sock = os.path.join(self.run, "pulse", "native")
        for _ in range(200):
            if os.path.exists(sock):
                return
            time.sleep(0.05)
        raise RuntimeError("private PulseAudio did not start")

    def record(self, path):
        return subprocess.Popen(["parec", "-d", "out.monitor", "--raw", "--format=s16le",
                                 "--rate=48000", "--channels=2"], env=self.env,
                                stdout=open(path, "wb"), stderr=subprocess.DEVNULL)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


class Xspice:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="sumac-bench-xspice-")
        self.fifo_dir = os.path.join(self.dir, "audio")
        os.makedirs(self.fifo_dir)
        self.port = free_port()
        d = 300 + os.getpid() % 500
        while os.path.exists(f"/tmp/.X{d}-lock"):
            d += 1
        self.display = d
        env = dict(os.environ, XSPICE_ADDR="127.0.0.1", QXL_FRAME_BUFFER_SIZE="32",
                   QXL_SURFACE_BUFFER_SIZE="128", QXL_COMMAND_BUFFER_SIZE="128",
                   QXL_ENABLE_SURFACES="1", QXL_ENABLE_IMAGE_CACHE="1",
                   QXL_ENABLE_FALLBACK_CACHE="1", XSPICE_PLAYBACK_COMPRESSION="1")
        self.wrapper = subprocess.Popen(
            ["Xspice", "--auto", "--numheads", "1", "--port", str(self.port), "--disable-ticketing",
             "--audio-fifo-dir", self.fifo_dir, "-logfile", os.path.join(self.dir, "xorg.log"),
             "-nolisten", "tcp", "-novtswitch", "-sharevts", f":{d}"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(600):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("Xspice did not start")

    def play(self, pcm):
        fifo = os.path.join(self.fifo_dir, "tone")
        os.mkfifo(fifo)
        with open(fifo, "wb") as f:
            f.write(pcm)
        os.unlink(fifo)

    def stop(self):
        xorg = [p for p in children(self.wrapper.pid)
                if open(f"/proc/{p}/comm").read().strip() == "Xorg"]
        for p in xorg:
            os.kill(p, signal.SIGTERM)
        try:
            self.wrapper.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.wrapper.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


BEFORE = None  # --before: another sumac binary, the client "sumac-before"


def client_cmd(name, uri):
    rel = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target")), "release")
    if name == "sumac-before":
        return [BEFORE, uri]
    if name == "sumac" or name.startswith("sumac+p"):
        return [os.path.join(rel, "sumac"), uri]
    if name == "sumac-cli":
        return [os.path.join(rel, "sumac-cli"), "stats", uri, "--seconds", "3600", "--until-eof",
                "--audio-device"]
    if name == "remote-viewer":
        return ["remote-viewer", uri]
    raise ValueError(name)


def measure(name, pulse, xvfb_display, seconds, pcm, perf=None):
    xs = Xspice()
    out = {}
    try:
        uri = f"spice://127.0.0.1:{xs.port}"
        env = dict(pulse.env, DISPLAY=f":{xvfb_display}", GDK_BACKEND="x11")
        log = os.path.join(pulse.dir, f"{name}.log")
        if name.startswith("sumac+p"):
            # The same app with another device period (SUMAC_AUDIO_PERIOD_MS, 0: the device's).
            env["SUMAC_AUDIO_PERIOD_MS"] = name[len("sumac+p"):]
        if name.startswith("sumac"):
            # The playback machine logs the sink delay (ring + device) at START and every
            # 100 packets: the packet-arrival-to-device latency.
            env["RUST_LOG"] = "sumac=info,sumac::channel::playback=debug,sumac::client::audio=debug"
        raw = os.path.join(pulse.dir, f"{name}.raw")
        rec = pulse.record(raw)
        proc = subprocess.Popen(client_cmd(name, uri), env=env, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=open(log, "wb"))
        time.sleep(6)
        prof = None
        if perf:
            # A profile of the client's process tree during the sound (its figures then
            # include perf's own cost: profile runs are not measurement runs).
            pids = ",".join(str(p) for p in tree(proc.pid))
            prof = subprocess.Popen(["perf", "record", "-F", "999", "--call-graph", "dwarf,16384",
                                     "-o", f"{perf}-{name}.data", "-p", pids],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)
        c0 = cpu(tree(proc.pid))
        t0 = time.monotonic()
        xs.play(pcm)
        time.sleep(1)
        out["cpu"] = cpu(tree(proc.pid)) - c0
        if prof:
            prof.send_signal(signal.SIGINT)
            prof.wait(timeout=120)
        out["wall"] = time.monotonic() - t0
        out["rss_mib"] = hwm_kib(tree(proc.pid)) / 1024
        rec.terminate()
        rec.wait()
        if name == "sumac-cli":
            proc.stdin.close()
            text = proc.stdout.read().decode(errors="replace")
            out["audio"] = next((l for l in text.splitlines() if l.startswith("audio:")), "")
        for p in reversed(tree(proc.pid)):
            try:
                os.kill(p, signal.SIGTERM)
            except OSError:
                pass
        proc.wait(timeout=20)
        with open(raw, "rb") as f:
            data = f.read()
            out["freq"], out["heard_s"] = tone_freq(data)
            out["gaps"], out["gap_ms"] = gaps(data)
        with open(log, errors="replace") as f:
            text = f.read()
            out["delays"] = [int(d) for d in re.findall(r"playback clock.*?delay=(\d+)", text)]
            period = re.search(r"audio output opened.*?period_frames=(\S+)", text)
            out["period"] = f", device period {period.group(1)} frames" if period else ""
            # The device sink's counters when the stream stopped (ring underruns: silence
            # played because the ring ran dry; backlog cuts).
            closed = [l for l in text.splitlines() if "audio output closed" in l]
            if closed:
                und = re.search(r"underruns=(\d+)", closed[-1])
                cut = re.search(r"backlogs_cut=(\d+)", closed[-1])
                xrun = re.search(r"device_xruns=(\d+)", closed[-1])
                out["period"] += (f", ring underruns {und.group(1) if und else '?'}, "
                                  f"device xruns {xrun.group(1) if xrun else '-'}, "
                                  f"backlog cuts {cut.group(1) if cut else '?'}")
    finally:
        xs.stop()
    return out


def delay_text(delays):
    """The sink delays logged during a run: median (min-max, count), or nothing."""
    if not delays:
        return ""
    d = sorted(delays)
    return f", sink delay median {d[len(d) // 2]} ms ({d[0]}-{d[-1]}, n={len(d)})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--clients", default="sumac,sumac-cli,remote-viewer")
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--perf", help="perf record each client during the sound into PREFIX-<client>.data")
    ap.add_argument("--before", help="another sumac binary, run as the client sumac-before")
    ap.add_argument("--load", type=int, default=0,
                    help="run N busy loops (one process each) during the whole measurement")
    args = ap.parse_args()
    global BEFORE
    BEFORE = args.before
    pcm = sine_pcm(440, args.seconds)
    pulse = Pulse()
    xd = 900 + os.getpid() % 90
    xvfb = subprocess.Popen(["Xvfb", f":{xd}", "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)
    results = {}
    # Busy loops: a loaded machine (stopped by their own PIDs at the end).
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.load)]
    try:
        clients = args.clients.split(",")
        for r in range(args.runs):
            for name in clients[r % len(clients):] + clients[: r % len(clients)]:
                m = measure(name, pulse, xd, args.seconds, pcm, args.perf)
                results.setdefault(name, []).append(m)
                print(f"run {r + 1} {name}: cpu {m['cpu']:.2f} s over {m['wall']:.1f} s, "
                      f"peak RSS {m['rss_mib']:.1f} MiB, heard {m['freq'] or 0:.1f} Hz for "
                      f"{m['heard_s']:.1f} s, {m['gaps']} gaps ({m['gap_ms']:.0f} ms) {m.get('audio', '')}{delay_text(m['delays'])}{m.get('period', '')}",
                      flush=True)
    finally:
        for h in hogs:
            h.terminate()
            h.wait()
        xvfb.terminate()
        xvfb.wait()
        pulse.stop()
    print("\nclient         cpu s (median)   % of a core   peak RSS MiB (median)   heard s (median)"
          "   gaps (all runs)   sink delay ms")
    for name, ms in results.items():
        c = sorted(m["cpu"] for m in ms)[len(ms) // 2]
        w = sorted(m["wall"] for m in ms)[len(ms) // 2]
        rss = sorted(m["rss_mib"] for m in ms)[len(ms) // 2]
        delays = [d for m in ms for d in m["delays"]]
        heard = sorted(m["heard_s"] for m in ms)[len(ms) // 2]
        gap = f"{sum(m['gaps'] for m in ms)} ({sum(m['gap_ms'] for m in ms):.0f} ms)"
        print(f"{name:<14} {c:>14.2f} {100 * c / w:>13.1f} {rss:>22.1f} {heard:>18.1f}   {gap:>15}   "
              f"{delay_text(delays).lstrip(', ') or '-'}")


if __name__ == "__main__":
    sys.exit(main())
