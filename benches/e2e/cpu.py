#!/usr/bin/env python3
"""End-to-end client cost: CPU seconds and peak RSS of SPICE clients on the same Xspice workloads.

For every (workload, client, run) the script starts a fresh Xspice (spice-server 0.15.1; a fresh
one because Xspice slows down after a heavy workload, see shared/real-servers.md), prepares the
scene, connects ONE client, waits until it is linked and has drawn the first frame, then runs the
scripted workload on the Xspice display and measures the client:

* cpu_work: utime+stime of the client's process tree (children included, reaped ones too) spent
  between the start of the workload and 1 s after its end, from /proc;
* cpu_total: the same from the client's start (connection, first frame, GUI start-up included);
* peak RSS: VmHWM summed over the client's process tree, at the end;
* server CPU (Xspice's Xorg, which also encodes) during the workload, to show the work was alike;
* for GUI clients, the CPU of the Xvfb they draw into (not included in the client's figures);
* for `sumac-cli stats`, the display counters it prints (draws applied, stream frames rendered);
* video, for every client, the work it was given and did, measured from outside: the bytes the
  server sent it (TCP `bytes_acked` of the server's sockets, `ss -ti`; also sampled so that the bytes
  sent while the clip was a stream can be told from the images before it), the frames it showed
  (XDamage on the clients' Xvfb: bursts covering at least half a frame, xprobe.DamageRecorder), its
  stream reports and the bit-rate decisions they led to (spice-server's debug lines, Xspice run with
  G_MESSAGES_DEBUG=Spice; --server-logs DIR keeps them), and CPU / Xvfb CPU per shown frame.

Workloads (the same work every run):
  text   an xterm (+j: no jump scroll, so every line scrolls and the amount drawn does not
         depend on the server's pace) printing 2,500 lines paced at 4 ms per line (~10 s);
  moves  an ImageMagick `display` window with a 640x480 photo-like image (plasma fractal, fixed
         seed), moved 150 times along a fixed path by xdotool, 60 ms apart; the path leaves the
         screen on both sides, so parts of the image are exposed and redrawn again;
  video  ffplay playing a 10 s 640x360 25 fps clip (lavfi mandelbrot), SDL software renderer,
         with Xspice started with --streaming-video all (the other workloads use the default,
         filter). --video-size/--video-secs change the clip; a clip larger than 900x650 runs on a
         1600x900 guest (xrandr) and a 1920x1200 client desktop, so it is streamed whole, 1:1.

Clients run one at a time, never concurrently (a SPICE server serves one client); each round
rotates the client order. Before the rounds each client connects once, unmeasured (warm-up:
the first GTK client on a fresh Xvfb pays one-off costs). GUI clients draw into one Xvfb (1280x1024x24) started by this script,
with a private D-Bus session bus.

Usage:
  benches/e2e/cpu.py [--runs 3] [--workloads text,moves,video] [--clients sumac-cli,spicy,remote-viewer]
                     [--client NAME=COMMAND ...] [--json FILE] [--video-codecs gstreamer:h264]
                     [--video-size 1280x720] [--video-secs 20] [--pacing] [--server-logs DIR]

--client adds or replaces a client: COMMAND is split like a shell command; {uri}, {host} and
{port} are substituted, and the URI is appended when no placeholder is present. Examples:
  --client sumac=target/release/sumac            (the GTK app; needs the X display: always given)
  --client sumac-cli=/path/to/sumac-cli          (replaces the built-in `sumac-cli stats` client)
Built-in clients: sumac-cli (target/release/sumac-cli stats URI --seconds 3600 --until-eof; ended
by closing its stdin), spicy (spice-gtk 0.42, GTK3) and remote-viewer (virt-viewer 11).
"""
import argparse
import json
import os
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import xprobe  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

TEXT_LINES = 2500
TEXT_PACE_S = 0.004
MOVE_STEPS = 150
MOVE_PAUSE_S = 0.06
VIDEO_SECS = 10
VIDEO_SIZE = "640x360"


# --------------------------------------------------------------------------------------------
# /proc helpers


def read_stat(pid):
    """(ppid, utime+stime+cutime+cstime in ticks) of a live process, or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    rest = s.rsplit(")", 1)[1].split()
    # rest[0] is the state; fields 4.. of proc(5) start at rest[1].
    if rest[0] in ("Z", "X"):
        return None
    ppid = int(rest[1])
    ticks = sum(int(x) for x in rest[11:15])
    return ppid, ticks


def tree(root):
    """PIDs of `root` and all its live descendants."""
    parents = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = read_stat(int(d))
            if st:
                parents[int(d)] = st[0]
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        if p in out:
            continue
        if p == root and read_stat(p) is None:
            continue
        out.append(p)
        todo.extend(c for c, pp in parents.items() if pp == p)
    return out


def cpu_seconds(pids):
    total = 0
    for p in pids:
        st = read_stat(p)
        if st:
            total += st[1]
    return total / CLK_TCK


def thread_ticks(pids):
    """{thread name: utime+stime ticks} over the threads of `pids` (names merged, e.g. "pool")."""
    out = {}
    for p in pids:
        try:
            tids = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for t in tids:
            try:
                with open(f"/proc/{p}/task/{t}/stat") as f:
                    s = f.read()
            except OSError:
                continue
            name = s[s.index("(") + 1:s.rindex(")")]
            rest = s.rsplit(")", 1)[1].split()
            # A process's main thread carries the program name: call it "main".
            if t == str(p):
                name = "main"
            out[name] = out.get(name, 0) + int(rest[11]) + int(rest[12])
            try:
                with open(f"/proc/{p}/task/{t}/status") as f:
                    switches = sum(int(line.split()[1]) for line in f if "ctxt_switches" in line)
                out[name + " wakeups"] = out.get(name + " wakeups", 0) + switches
            except (OSError, ValueError, IndexError):
                pass
    return out


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


def established(port):
    """Established TCP connections whose local port is `port` (the server side of clients)."""
    n = 0
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    local, state = parts[1], parts[3]
                    if state == "01" and int(local.rsplit(":", 1)[1], 16) == port:
                        n += 1
        except OSError:
            pass
    return n


def socket_bytes(port):
    """Bytes the server side of `port`'s established connections has had acknowledged (sent to
    the clients) and has received from them: TCP counters from `ss -ti`. One client at a time is
    connected, so these are that client's channels."""
    out = subprocess.run(["ss", "-tinH", "state", "established", f"( sport = :{port} )"], capture_output=True,
                         text=True).stdout
    acked = sum(int(v) for v in re.findall(r"bytes_acked:(\d+)", out))
    received = sum(int(v) for v in re.findall(r"bytes_received:(\d+)", out))
    return acked, received


# spice-server's debug lines (G_MESSAGES_DEBUG=Spice) about the client's stream reports and the
# bit rate it chooses: the MJPEG encoder's and the GStreamer encoder's wording.
MJPEG_REPORT = re.compile(r"client report: #frames (\d+), #drops (-?\d+), duration \d+ video-delay (-?\d+)")
GST_REPORT = re.compile(r"client report: (\d+)/(\d+) drops in \d+ms margins video +(-?\d+)/ *(-?\d+)")
RATE_LINE = re.compile(r"(increase|decrease|cut|reduce|decrement)[^\n]*bit rate|set_bit_rate|bit rate estimation")
SERVER_DROPS = re.compile(r"server report: got (\d+) drops|#drops (\d+) total")


def server_reports(text):
    """The stream reports spice-server logged and what it did with them."""
    frames = drops = 0
    delays = []
    n = 0
    for m in MJPEG_REPORT.finditer(text):
        n += 1
        frames += int(m[1])
        drops += int(m[2])
        delays.append(int(m[3]))
    for m in GST_REPORT.finditer(text):
        n += 1
        drops += int(m[1])
        frames += int(m[2])
        delays.append(int(m[3]))
    changes = {}
    for m in RATE_LINE.finditer(text):
        k = m[1] or m[0]
        changes[k] = changes.get(k, 0) + 1
    sdrops = sum(int(m[1] or m[2]) for m in SERVER_DROPS.finditer(text))
    rates = re.findall(r"set_bit_rate\(([0-9.]+)Mbps\)|(?:increase|decrease) bit rate (?:to )?([0-9.]+)", text)
    last_rate = next((float(a or b) for a, b in reversed(rates)), None)
    # How long the clip was streamed: from the stream's creation to its stop (the frames before it
    # went as images: more bytes and server CPU, whatever the client).
    stamps = re.findall(r"(\d\d):(\d\d):(\d\d\.\d+): [^\n]*(display_channel_create_stream|video_stream_stop):", text)
    start = next((h, m_, sec) for h, m_, sec, what in stamps if what == "display_channel_create_stream") \
        if any(w == "display_channel_create_stream" for *_, w in stamps) else None
    stop = next((h, m_, sec) for h, m_, sec, what in reversed(stamps) if what == "video_stream_stop") \
        if any(w == "video_stream_stop" for *_, w in stamps) else None

    def secs(t):
        return int(t[0]) * 3600 + int(t[1]) * 60 + float(t[2])
    streamed = (secs(stop) - secs(start)) % 86400 if start and stop else None
    return {"streamed_s": streamed, "stream_span": (secs(start), secs(stop)) if start and stop else None,
            "reports": n, "reported_frames": frames, "reported_drops": drops,
            "reported_delay_mean_ms": statistics.mean(delays) if delays else None,
            "rate_changes": changes, "server_drops": sdrops, "last_rate_mbps": last_rate}


class ByteSampler:
    """`socket_bytes` every 0.2 s from a thread, stamped with the UTC time of day (the clock of
    spice-server's log lines), so the bytes sent while the clip was a stream can be told apart
    from those of the images before it."""

    def __init__(self, port):
        import threading
        self.port, self.samples, self.running = port, [], True
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while self.running:
            self.samples.append((time.time() % 86400, socket_bytes(self.port)[0]))
            time.sleep(0.2)

    def stop(self):
        self.running = False
        self.thread.join()

    def at(self, t):
        """Bytes acknowledged at time of day `t` (linear between samples)."""
        prev = None
        for ts, b in self.samples:
            if ts >= t:
                if prev is None:
                    return b
                return prev[1] + (b - prev[1]) * (t - prev[0]) / max(ts - prev[0], 1e-6)
            prev = (ts, b)
        return prev[1] if prev else 0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_display(start):
    for d in range(start, start + 400):
        if not os.path.exists(f"/tmp/.X{d}-lock") and not os.path.exists(f"/tmp/.X11-unix/X{d}"):
            return d
    sys.exit("no free X display number")


def wait_for(cond, timeout, what):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return
        time.sleep(0.05)
    raise RuntimeError(f"timed out after {timeout} s waiting for {what}")


def stop_pid(proc, grace=5):
    """SIGTERM then SIGKILL one process we started (by its Popen, i.e. by PID)."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# --------------------------------------------------------------------------------------------
# Servers


class Xspice:
    def __init__(self, tmp, streaming, codecs=None, debug_log=None):
        self.display = free_display(600)
        self.port = free_port()
        self.log = os.path.join(tmp, f"xorg-{self.display}.log")
        env = dict(os.environ, XSPICE_ADDR="127.0.0.1", QXL_FRAME_BUFFER_SIZE="32",
                   QXL_SURFACE_BUFFER_SIZE="128", QXL_COMMAND_BUFFER_SIZE="128", QXL_ENABLE_SURFACES="1",
                   QXL_ENABLE_IMAGE_CACHE="1", QXL_ENABLE_FALLBACK_CACHE="1", XSPICE_AGENT_MOUSE="1")
        self.debug = None
        if debug_log:
            # spice-server's debug messages (its stream-report and bit-rate lines) on stderr.
            env["G_MESSAGES_DEBUG"] = "Spice"
            self.debug = open(debug_log, "w+")
        cmd = ["Xspice", "--auto", "--numheads", "1", "--port", str(self.port), "--disable-ticketing",
               "--streaming-video", streaming, "-logfile", self.log, "-nolisten", "tcp", "-novtswitch",
               "-sharevts", f":{self.display}"]
        if codecs:
            cmd[1:1] = ["--video-codecs", codecs]
        self.wrapper = subprocess.Popen(cmd, env=env, stdout=self.debug or subprocess.DEVNULL,
                                        stderr=self.debug or subprocess.DEVNULL,
                                        stdin=subprocess.DEVNULL)
        self.xorg = None
        self.clients = []

        def xorg_up():
            if self.wrapper.poll() is not None:
                raise RuntimeError(f"Xspice exited ({self.wrapper.returncode}); see {self.log}")
            for p in tree(self.wrapper.pid):
                try:
                    with open(f"/proc/{p}/comm") as f:
                        if f.read().strip() == "Xorg":
                            self.xorg = p
                except OSError:
                    pass
            return self.xorg is not None and os.path.exists(f"/tmp/.X11-unix/X{self.display}")

        wait_for(xorg_up, 30, "Xspice's Xorg")

        def port_open():
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return True
            except OSError:
                return False

        wait_for(port_open, 30, f"Xspice port {self.port}")
        # The probe connection must be gone before a client's connections are counted.
        wait_for(lambda: established(self.port) == 0, 10, "the port probe to close")

    def env(self):
        e = dict(os.environ, DISPLAY=f":{self.display}")
        e.pop("XAUTHORITY", None)
        return e

    def run(self, cmd, timeout=60, **kw):
        return subprocess.run(cmd, env=kw.pop("env", self.env()), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=timeout, **kw)

    def spawn(self, cmd, env=None):
        p = subprocess.Popen(cmd, env=env or self.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             stdin=subprocess.DEVNULL)
        self.clients.append(p)
        return p

    def cpu(self):
        return cpu_seconds([self.xorg])

    def stop(self):
        for p in self.clients:
            stop_pid(p, 2)
        if self.xorg and read_stat(self.xorg):
            # SIGTERM to Xorg, never to the python wrapper (it deadlocks).
            os.kill(self.xorg, signal.SIGTERM)
            end = time.time() + 15
            while read_stat(self.xorg) and time.time() < end:
                time.sleep(0.05)
            if read_stat(self.xorg):
                os.kill(self.xorg, signal.SIGKILL)
        try:
            self.wrapper.wait(10)
        except subprocess.TimeoutExpired:
            self.wrapper.kill()
            self.wrapper.wait()
        if self.debug:
            self.debug.close()
        lock = f"/tmp/.X{self.display}-lock"
        try:
            with open(lock) as f:
                if int(f.read().strip()) == self.xorg:
                    os.remove(lock)
        except (OSError, ValueError):
            pass


def big_video():
    """A clip that does not fit Xspice's 1024x768 at (100, 100)."""
    w, h = (int(v) for v in VIDEO_SIZE.split("x"))
    return w > 900 or h > 650


def desktop_size():
    # The guest at 1600x900 (big videos) must show 1:1 in the clients' windows.
    return "1920x1200" if big_video() else "1280x1024"


class Desktop:
    """The Xvfb GUI clients draw into, plus a private session bus."""

    def __init__(self):
        self.display = free_display(500)
        self.xvfb = subprocess.Popen(["Xvfb", f":{self.display}", "-screen", "0", f"{desktop_size()}x24", "-nolisten",
                                      "tcp", "-noreset"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     stdin=subprocess.DEVNULL)
        wait_for(lambda: os.path.exists(f"/tmp/.X11-unix/X{self.display}"), 20, "Xvfb")
        self.dbus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                                     text=True)
        self.bus = self.dbus.stdout.readline().strip()

    def env(self):
        e = dict(os.environ, DISPLAY=f":{self.display}", GDK_BACKEND="x11", NO_AT_BRIDGE="1",
                 DBUS_SESSION_BUS_ADDRESS=self.bus)
        e.pop("WAYLAND_DISPLAY", None)
        e.pop("XAUTHORITY", None)
        return e

    def cpu(self):
        return cpu_seconds([self.xvfb.pid])

    def stop(self):
        stop_pid(self.dbus)
        stop_pid(self.xvfb)


# --------------------------------------------------------------------------------------------
# Workloads: prepare() runs before the client connects, run() is the measured work.


class Text:
    name = "text"
    streaming = "filter"

    def __init__(self, tmp):
        self.gen = os.path.join(tmp, "lines.py")
        with open(self.gen, "w") as f:
            f.write(
                "import sys, time\n"
                f"for i in range({TEXT_LINES}):\n"
                "    sys.stdout.write('%05d the quick brown fox jumps over the lazy dog %s\\n' % (i, '=' * (i % 37)))\n"
                "    sys.stdout.flush()\n"
                f"    time.sleep({TEXT_PACE_S})\n")

    def prepare(self, xs):
        pass

    def run(self, xs):
        xs.run(["xterm", "-geometry", "100x40+40+40", "-bg", "white", "-fg", "black", "+sb", "+j", "-e", "python3",
                self.gen], timeout=120)


class Moves:
    name = "moves"
    streaming = "filter"

    def __init__(self, tmp):
        self.photo = os.path.join(tmp, "photo.png")
        subprocess.run(["convert", "-seed", "42", "-size", "640x480", "plasma:fractal", "-blur", "0x1", self.photo], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def prepare(self, xs):
        xs.spawn(["display", "-title", "sumac-bench-photo", "-geometry", "+50+50", self.photo])
        out = {}

        def found():
            r = subprocess.run(["xdotool", "search", "--name", "sumac-bench-photo"], env=xs.env(),
                               capture_output=True, text=True)
            ids = r.stdout.split()
            if ids:
                out["win"] = ids[0]
            return bool(ids)

        wait_for(found, 20, "the photo window")
        self.win = out["win"]
        time.sleep(0.5)

    def run(self, xs):
        # A fixed path, the same positions every run: left to right and back, from 300 px off the
        # left edge to 300 px off the right edge, bouncing up and down.
        cmds = []
        for i in range(MOVE_STEPS):
            t = i / MOVE_STEPS
            x = -300 + int(1000 * (t * 2 if t < 0.5 else 2 - t * 2))
            y = 20 + int(260 * (i % 25) / 24)
            cmds.append(f"xdotool windowmove {self.win} {x} {y}; sleep {MOVE_PAUSE_S}")
        xs.run(["sh", "-c", "; ".join(cmds)], timeout=120)


class Video:
    name = "video"
    streaming = "all"

    def __init__(self, tmp):
        self.clip = os.path.join(tmp, "clip.mp4")
        subprocess.run(["ffmpeg", "-y", "-v", "error", "-f", "lavfi", "-i", f"mandelbrot=size={VIDEO_SIZE}:rate=25",
                        "-t", str(VIDEO_SECS), "-c:v", "mpeg4", "-q:v", "3", self.clip], check=True)

    def prepare(self, xs):
        if big_video():
            # The whole clip on screen (a 1280x720 one needs 1380x820 at (100, 100)).
            xs.run(["xrandr", "-s", "1600x900"])

    def run(self, xs):
        env = dict(xs.env(), SDL_VIDEODRIVER="x11", SDL_RENDER_DRIVER="software", SDL_AUDIODRIVER="dummy")
        xs.run(["ffplay", "-v", "error", "-an", "-autoexit", "-noborder", "-left", "100", "-top", "100",
                self.clip], env=env, timeout=120)


class Idle:
    """Warm-up: connect, do nothing. The first GTK client started on a fresh Xvfb costs more
    (one-off caches: a 150 MiB peak RSS instead of 97 for spicy), so every client runs once,
    unmeasured, before the rounds."""

    name = "warm-up"
    streaming = "filter"

    def prepare(self, xs):
        pass

    def run(self, xs):
        time.sleep(1)


class Quiet:
    """Connected to a desktop where nothing changes for 10 s: what the client costs at rest
    (main-loop wakeups, timers). Not in the default set."""

    name = "idle"
    streaming = "filter"

    def __init__(self, tmp):
        pass

    def prepare(self, xs):
        pass

    def run(self, xs):
        time.sleep(10)


WORKLOADS = {"text": Text, "moves": Moves, "video": Video, "idle": Quiet}


# --------------------------------------------------------------------------------------------
# Clients


class Client:
    def __init__(self, name, argv, gui, stdin_stop=False):
        self.name, self.argv, self.gui, self.stdin_stop = name, argv, gui, stdin_stop

    def command(self, port):
        uri = f"spice://127.0.0.1:{port}"
        subst = {"{uri}": uri, "{host}": "127.0.0.1", "{port}": str(port)}
        out, used = [], False
        for a in self.argv:
            for k, v in subst.items():
                if k in a:
                    a, used = a.replace(k, v), True
            out.append(a)
        return out if used else out + [uri]


def builtin_clients(sumac_cli):
    return {
        "sumac-cli": Client("sumac-cli", [sumac_cli, "stats", "{uri}", "--seconds", "3600", "--until-eof"], False,
                            stdin_stop=True),
        "spicy": Client("spicy", ["spicy", "-h", "{host}", "-p", "{port}"], True),
        "remote-viewer": Client("remote-viewer", ["remote-viewer", "{uri}"], True),
    }


# Xspice --video-codecs of the video workload (None: spice-server's default, MJPEG).
VIDEO_CODECS = None
# --pacing: Sumac clients log every frame they show; the results get its pacing figures.
PACING = False
# --server-logs: where spice-server's debug log of each video run is kept.
SERVER_LOGS = None
PACING_LINE = re.compile(r"frame shown stream=(\d+) mm_time=(\d+) now=(\d+)")


def pacing(log):
    """Frame pacing from Sumac's per-frame trace: each frame's lateness (when it was handed over
    to be drawn − its time on the multimedia clock, ms) and its jitter (the gap to the previous
    frame of the same stream minus the gap of their timestamps, ms)."""
    late, jitter, prev = [], [], {}
    for m in PACING_LINE.finditer(log):
        sid, mm, now = int(m[1]), int(m[2]), int(m[3])
        late.append(now - mm)
        p = prev.get(sid)
        if p is not None and mm > p[0]:
            jitter.append(abs((now - p[1]) - (mm - p[0])))
        prev[sid] = (mm, now)
    if not late:
        return {"paced_frames": 0}
    jitter.sort()
    p95 = jitter[min(len(jitter) - 1, int(0.95 * len(jitter)))] if jitter else 0
    return {"paced_frames": len(late), "late_mean_ms": statistics.mean(late),
            "jitter_p95_ms": p95, "jitter_max_ms": jitter[-1] if jitter else 0}


def measure(workload, client, tmp, desktop):
    video = workload.name == "video"
    debug_log = os.path.join(tmp, f"spice-{client.name}.log") if video else None
    xs = Xspice(tmp, workload.streaming, VIDEO_CODECS if video else None, debug_log)
    proc = None
    try:
        workload.prepare(xs)
        time.sleep(0.5)
        env = desktop.env() if client.gui else dict(os.environ)
        pacing_log = None
        if PACING and video and (client.name.startswith("sumac")
                                 or any(os.path.basename(a).startswith("sumac") for a in client.argv)):
            # One trace line per frame shown (src/display/stream/info.rs), nothing else.
            env["RUST_LOG"] = "warn,sumac::pacing=trace"
            pacing_log = open(os.path.join(tmp, f"pacing-{client.name}.log"), "w+")
        t_start = time.time()
        proc = subprocess.Popen(client.command(xs.port), env=env, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE if client.stdin_stop else subprocess.DEVNULL,
                                stderr=pacing_log or subprocess.DEVNULL, text=True)

        def linked():
            if proc.poll() is not None:
                raise RuntimeError(f"{client.name} exited early ({proc.returncode})")
            return established(xs.port) >= 2

        wait_for(linked, 30, f"{client.name} to connect")
        time.sleep(3)  # every channel linked, first frame drawn
        if established(xs.port) < 2 or proc.poll() is not None:
            raise RuntimeError(f"{client.name} did not stay connected")
        pids = tree(proc.pid)
        cpu0, srv0, x0 = cpu_seconds(pids), xs.cpu(), desktop.cpu()
        th0 = thread_ticks(pids)
        damage = None
        if video and client.gui:
            damage = xprobe.DamageRecorder(f":{desktop.display}")
            damage.start()
        if xs.debug:
            xs.debug.seek(0, os.SEEK_END)
            debug_from = xs.debug.tell()
        sock0 = socket_bytes(xs.port)
        sampler = ByteSampler(xs.port) if video else None
        t0 = time.time()
        workload.run(xs)
        time.sleep(1)  # the tail of the updates
        wall = time.time() - t0
        sock1 = socket_bytes(xs.port)
        if sampler:
            sampler.stop()
        if damage:
            damage.stop()
        pids = tree(proc.pid)
        if proc.poll() is not None or established(xs.port) < 2:
            raise RuntimeError(f"{client.name} disconnected during the workload")
        cpu1, srv1, x1 = cpu_seconds(pids), xs.cpu(), desktop.cpu()
        th1 = thread_ticks(pids)
        threads = {k: (v - th0.get(k, 0)) / CLK_TCK for k, v in th1.items()
                   if v - th0.get(k, 0) > 0 and not k.endswith(" wakeups")}
        switches = {k[:-len(" wakeups")]: v - th0.get(k, 0) for k, v in th1.items()
                    if k.endswith(" wakeups") and v - th0.get(k, 0) > 0}
        rss = hwm_kib(pids)
        res = {"workload": workload.name, "client": client.name, "cpu_work": cpu1 - cpu0,
               "cpu_total": cpu1, "rss_mib": rss / 1024, "server_cpu": srv1 - srv0,
               "xvfb_cpu": (x1 - x0) if client.gui else None, "wall": wall,
               "since_start": time.time() - t_start, "threads": threads,
               "context_switches": switches,
               "bytes_to_client": sock1[0] - sock0[0], "bytes_from_client": sock1[1] - sock0[1]}
        if damage:
            w, h = (int(v) for v in VIDEO_SIZE.split("x"))
            pixels, updates = damage.frames(w, h)
            res.update(damaged_mpix=pixels / 1e6, damage_frames=updates)
        if xs.debug:
            xs.debug.flush()
            xs.debug.seek(debug_from)
            text = xs.debug.read()
            res.update(server_reports(text))
            span = res.pop("stream_span")
            if span and sampler:
                res["stream_bytes"] = sampler.at(span[1]) - sampler.at(span[0])
            if SERVER_LOGS:
                os.makedirs(SERVER_LOGS, exist_ok=True)
                n = len(os.listdir(SERVER_LOGS))
                with open(os.path.join(SERVER_LOGS, f"{n:02d}-{client.name}.log"), "w") as f:
                    f.write(text)
        # Stop the client: sumac-cli on stdin EOF (prints its counters), the others by SIGTERM.
        if client.stdin_stop:
            try:
                out, _ = proc.communicate(timeout=10)  # closes stdin first
            except subprocess.TimeoutExpired:
                stop_pid(proc)
                out = ""
            m = re.search(r"display 0: (\d+) messages, (\d+) draws applied.*?frames (\d+) received, (\d+) rendered",
                          out or "")
            if m:
                res.update(messages=int(m[1]), draws=int(m[2]), stream_frames=int(m[3]), stream_rendered=int(m[4]))
        else:
            stop_pid(proc)
        if pacing_log is not None:
            pacing_log.flush()
            pacing_log.seek(0)
            res.update(pacing(pacing_log.read()))
            pacing_log.close()
        return res
    finally:
        if proc is not None:
            stop_pid(proc)
        xs.stop()


def fmt(values, unit=""):
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    return f"{statistics.median(values):.2f}{unit} ({min(values):.2f}–{max(values):.2f})"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workloads", default="text,moves,video")
    ap.add_argument("--clients", default="sumac-cli,spicy,remote-viewer",
                    help="comma-separated, in the first round's order")
    ap.add_argument("--client", action="append", default=[], metavar="NAME=COMMAND",
                    help="add or replace a client (GUI: gets the Xvfb display)")
    ap.add_argument("--sumac-cli", default=os.path.join(REPO, "target/release/sumac-cli"))
    ap.add_argument("--video-codecs", default=None,
                    help="Xspice --video-codecs for the video workload, e.g. gstreamer:vp8 (default: spice:mjpeg)")
    ap.add_argument("--video-size", default="640x360", help="the video clip's size (default 640x360)")
    ap.add_argument("--video-secs", type=int, default=10, help="the video clip's length in s (default 10)")
    ap.add_argument("--pacing", action="store_true",
                    help="video: Sumac clients log each frame shown; report lateness and jitter")
    ap.add_argument("--json", help="also write every measurement to this file")
    ap.add_argument("--server-logs", metavar="DIR",
                    help="video: keep spice-server's debug log of each run (stream reports, bit rates) in DIR")
    ap.add_argument("--no-warmup", action="store_true", help="skip the unmeasured first connection of each client")
    a = ap.parse_args()
    global VIDEO_CODECS, VIDEO_SIZE, VIDEO_SECS, PACING, SERVER_LOGS
    SERVER_LOGS = a.server_logs
    VIDEO_CODECS = a.video_codecs
    PACING = a.pacing
    VIDEO_SIZE = a.video_size
    VIDEO_SECS = a.video_secs

    clients = builtin_clients(a.sumac_cli)
    order = [c for c in a.clients.split(",") if c]
    for spec in a.client:
        name, _, cmd = spec.partition("=")
        if not cmd:
            sys.exit(f"--client {spec!r}: expected NAME=COMMAND")
        argv = shlex.split(cmd)
        if name == "sumac-cli":
            clients[name] = builtin_clients(argv[0])["sumac-cli"]
        else:
            clients[name] = Client(name, argv, True)
        if name not in order:
            order.append(name)
    for name in order:
        if name not in clients:
            sys.exit(f"unknown client {name!r}")
        exe = clients[name].argv[0]
        if not shutil.which(exe) and not os.access(exe, os.X_OK):
            sys.exit(f"{name}: {exe} not found")
    for tool in ["Xspice", "Xvfb", "dbus-daemon", "xterm", "xdotool", "display", "convert", "ffmpeg", "ffplay"]:
        if not shutil.which(tool):
            sys.exit(f"{tool} missing: run scripts/setup")

    tmp = tempfile.mkdtemp(prefix="sumac-cpu-")
    workloads = [WORKLOADS[w](tmp) for w in a.workloads.split(",") if w]
    desktop = Desktop()
    results = []
    load_start = os.getloadavg()
    print(f"load average at start: {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}", file=sys.stderr)
    try:
        if not a.no_warmup:
            for name in order:
                measure(Idle(), clients[name], tmp, desktop)
                print(f"warm-up {name} done", file=sys.stderr, flush=True)
        for r in range(a.runs):
            rotated = order[r % len(order):] + order[:r % len(order)]
            for w in workloads:
                for name in rotated:
                    res = measure(w, clients[name], tmp, desktop)
                    res["run"] = r + 1
                    results.append(res)
                    extra = f" draws {res['draws']} stream frames {res['stream_rendered']}/{res['stream_frames']}" \
                        if "draws" in res else ""
                    if res.get("paced_frames"):
                        extra += f" paced {res['paced_frames']} late mean {res['late_mean_ms']:.1f} ms " \
                                 f"jitter p95 {res['jitter_p95_ms']} ms max {res['jitter_max_ms']} ms"
                    if w.name == "video":
                        extra += f" to-client {res['bytes_to_client'] / 1e6:.2f} MB, while streaming " \
                                 f"{res.get('stream_bytes', 0) / 1e6:.2f} MB in {res.get('streamed_s')} s"
                        if "damage_frames" in res:
                            extra += f" X updates {res['damage_frames']} ({res['damaged_mpix']:.0f} Mpix)" \
                                     f" xvfb {res['xvfb_cpu']:.2f} s"
                        if "reports" in res:
                            extra += f" reports {res['reports']}: frames {res['reported_frames']} drops " \
                                     f"{res['reported_drops']} delay {res['reported_delay_mean_ms']} ms rate " \
                                     f"{res['rate_changes']} last {res['last_rate_mbps']} server drops " \
                                     f"{res['server_drops']}"
                    print(f"run {r + 1} {w.name:6s} {name:14s} cpu_work {res['cpu_work']:6.2f} s  "
                          f"cpu_total {res['cpu_total']:6.2f} s  rss {res['rss_mib']:7.1f} MiB  "
                          f"server {res['server_cpu']:5.2f} s  wall {res['wall']:5.1f} s{extra}  "
                          f"load {os.getloadavg()[0]:.2f}", file=sys.stderr, flush=True)
                    top = sorted(res["threads"].items(), key=lambda kv: -kv[1])[:6]
                    print("      threads (CPU s, context switches): " + ", ".join(
                        f"{k} {v:.2f} ({res['context_switches'].get(k, 0)})" for k, v in top), file=sys.stderr, flush=True)
    finally:
        desktop.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    load_end = os.getloadavg()

    print(f"\n{a.runs} runs per client and workload, clients alternating; load average "
          f"{load_start[0]:.2f} at start, {load_end[0]:.2f} at end (1-min).\n")
    print("| workload | client | CPU s during workload | CPU s total | peak RSS MiB | Xspice CPU s | Xvfb CPU s |"
          " frames drawn (sumac-cli) |")
    print("|---|---|---|---|---|---|---|---|")
    for w in workloads:
        for name in order:
            rs = [x for x in results if x["workload"] == w.name and x["client"] == name]
            frames = "–"
            if rs and all("draws" in x for x in rs):
                frames = f"{statistics.median([x['draws'] for x in rs]):.0f} draws"
                if w.name == "video":
                    frames += f", {statistics.median([x['stream_rendered'] for x in rs]):.0f}/" \
                              f"{statistics.median([x['stream_frames'] for x in rs]):.0f} stream frames"
            print(f"| {w.name} | {name} | {fmt([x['cpu_work'] for x in rs])} | {fmt([x['cpu_total'] for x in rs])} "
                  f"| {fmt([x['rss_mib'] for x in rs])} | {fmt([x['server_cpu'] for x in rs])} "
                  f"| {fmt([x['xvfb_cpu'] for x in rs])} | {frames} |")
    # Ratios of medians against the reference clients.
    refs = [c for c in ("spicy", "remote-viewer") if c in order]
    ours = [c for c in order if c not in refs]
    if refs and ours:
        print("\n| workload | ratio (median CPU during workload / median peak RSS) |")
        print("|---|---|")
        for w in workloads:
            def med(name, key):
                v = [x[key] for x in results if x["workload"] == w.name and x["client"] == name]
                return statistics.median(v) if v else None
            parts = []
            for o in ours:
                for ref in refs:
                    c_o, c_r, m_o, m_r = med(o, "cpu_work"), med(ref, "cpu_work"), med(o, "rss_mib"), med(ref, "rss_mib")
                    if c_o is not None and c_r and m_r:
                        parts.append(f"{o}/{ref}: CPU {c_o / c_r:.2f}×, RSS {m_o / m_r:.2f}×")
            print(f"| {w.name} | {'; '.join(parts)} |")
    paced = [x for x in results if x.get("paced_frames")]
    if paced:
        print("\n| client | frames shown (median) | mean lateness ms | p95 jitter ms | max jitter ms |")
        print("|---|---|---|---|---|")
        for name in order:
            rs = [x for x in paced if x["client"] == name]
            if rs:
                print(f"| {name} | {statistics.median([x['paced_frames'] for x in rs]):.0f} "
                      f"| {fmt([x['late_mean_ms'] for x in rs])} | {fmt([x['jitter_p95_ms'] for x in rs])} "
                      f"| {fmt([x['jitter_max_ms'] for x in rs])} |")
    vids = [x for x in results if x["workload"] == "video"]
    if vids:
        print("\n| client | MB to client | of which while streaming (s streamed) | frames shown (X updates ≥ ½ frame) | Sumac's own count | Mpix drawn "
              "| frames / drops in its stream reports | mean reported delay ms | CPU ms per shown frame "
              "| CPU s per MB | Xvfb ms per shown frame |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for name in order:
            rs = [x for x in vids if x["client"] == name]
            if not rs:
                continue

            def m(key, scale=1.0, digits=1):
                v = [x[key] * scale for x in rs if x.get(key) is not None]
                return f"{statistics.median(v):.{digits}f}" if v else "–"

            for x in rs:
                shown = x.get("damage_frames") or x.get("paced_frames") or x.get("stream_rendered")
                x["cpu_per_frame_ms"] = 1000 * x["cpu_work"] / shown if shown else None
                x["xvfb_per_frame_ms"] = 1000 * x["xvfb_cpu"] / shown if shown and x.get("xvfb_cpu") else None
                mb = x["bytes_to_client"] / 1e6
                x["cpu_per_mb"] = x["cpu_work"] / mb if mb else None
            print(f"| {name} | {m('bytes_to_client', 1e-6, 2)} | {m('stream_bytes', 1e-6, 2)} ({m('streamed_s')}) "
                  f"| {m('damage_frames', 1, 0)} | "
                  f"{m('paced_frames', 1, 0)} | {m('damaged_mpix', 1, 0)} | {m('reported_frames', 1, 0)} / "
                  f"{m('reported_drops', 1, 0)} | {m('reported_delay_mean_ms')} | {m('cpu_per_frame_ms', 1, 2)} | "
                  f"{m('cpu_per_mb', 1, 3)} | {m('xvfb_per_frame_ms', 1, 2)} |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"load_start": load_start, "load_end": load_end, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
