"""A small X11 probe for the end-to-end benchmarks, through ctypes (no python-xlib here).

It reads pixels of the root window of an X display (Xvfb: the root's image holds every mapped
window's pixels) and sends key and pointer events with XTest, so a benchmark can measure from
outside what a person would see: when a client's window shows a change.
"""
import ctypes
import ctypes.util
import time

_x11 = ctypes.CDLL(ctypes.util.find_library("X11") or "libX11.so.6")
_xtst = ctypes.CDLL(ctypes.util.find_library("Xtst") or "libXtst.so.6")

ALL_PLANES = 0xFFFFFFFF
Z_PIXMAP = 2


class _Funcs(ctypes.Structure):
    _fields_ = [("create_image", ctypes.c_void_p), ("destroy_image", ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)),
                ("get_pixel", ctypes.c_void_p), ("put_pixel", ctypes.c_void_p), ("sub_image", ctypes.c_void_p),
                ("add_pixel", ctypes.c_void_p)]


class _XImage(ctypes.Structure):
    _fields_ = [("width", ctypes.c_int), ("height", ctypes.c_int), ("xoffset", ctypes.c_int),
                ("format", ctypes.c_int), ("data", ctypes.c_void_p), ("byte_order", ctypes.c_int),
                ("bitmap_unit", ctypes.c_int), ("bitmap_bit_order", ctypes.c_int), ("bitmap_pad", ctypes.c_int),
                ("depth", ctypes.c_int), ("bytes_per_line", ctypes.c_int), ("bits_per_pixel", ctypes.c_int),
                ("red_mask", ctypes.c_ulong), ("green_mask", ctypes.c_ulong), ("blue_mask", ctypes.c_ulong),
                ("obdata", ctypes.c_void_p), ("f", _Funcs)]


_x11.XOpenDisplay.restype = ctypes.c_void_p
_x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
_x11.XDefaultRootWindow.restype = ctypes.c_ulong
_x11.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
_x11.XGetImage.restype = ctypes.POINTER(_XImage)
_x11.XGetImage.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_int, ctypes.c_uint,
                           ctypes.c_uint, ctypes.c_ulong, ctypes.c_int]
_x11.XStringToKeysym.restype = ctypes.c_ulong
_x11.XStringToKeysym.argtypes = [ctypes.c_char_p]
_x11.XKeysymToKeycode.restype = ctypes.c_ubyte
_x11.XKeysymToKeycode.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
_x11.XFlush.argtypes = [ctypes.c_void_p]
_x11.XSync.argtypes = [ctypes.c_void_p, ctypes.c_int]
_x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
_x11.XDisplayWidth.argtypes = [ctypes.c_void_p, ctypes.c_int]
_x11.XDisplayHeight.argtypes = [ctypes.c_void_p, ctypes.c_int]
_xtst.XTestFakeKeyEvent.argtypes = [ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_ulong]
_xtst.XTestFakeMotionEvent.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_ulong]


class Display:
    def __init__(self, name):
        self.dpy = _x11.XOpenDisplay(name.encode())
        if not self.dpy:
            raise RuntimeError(f"cannot open X display {name}")
        self.root = _x11.XDefaultRootWindow(self.dpy)
        self.width = _x11.XDisplayWidth(self.dpy, 0)
        self.height = _x11.XDisplayHeight(self.dpy, 0)

    def close(self):
        if self.dpy:
            _x11.XCloseDisplay(self.dpy)
            self.dpy = None

    def grab(self, x=0, y=0, w=None, h=None):
        """The root's pixels in the rectangle, as bytes (4 bytes a pixel, rows of the image's stride)."""
        w = self.width - x if w is None else w
        h = self.height - y if h is None else h
        img = _x11.XGetImage(self.dpy, self.root, x, y, w, h, ALL_PLANES, Z_PIXMAP)
        if not img:
            raise RuntimeError("XGetImage failed")
        try:
            im = img.contents
            return ctypes.string_at(im.data, im.bytes_per_line * im.height), im.bytes_per_line
        finally:
            img.contents.f.destroy_image(ctypes.cast(img, ctypes.c_void_p))

    def keycode(self, keysym_name):
        ks = _x11.XStringToKeysym(keysym_name.encode())
        kc = _x11.XKeysymToKeycode(self.dpy, ks)
        if not kc:
            raise RuntimeError(f"no keycode for {keysym_name}")
        return kc

    def tap(self, keycode):
        """Press and release a key now; returns when the X server has the events."""
        _xtst.XTestFakeKeyEvent(self.dpy, keycode, 1, 0)
        _xtst.XTestFakeKeyEvent(self.dpy, keycode, 0, 0)
        _x11.XSync(self.dpy, 0)

    def move(self, x, y):
        _xtst.XTestFakeMotionEvent(self.dpy, -1, x, y, 0)
        _x11.XSync(self.dpy, 0)


def changed_box(a, b, stride, bpp=4):
    """Bounding box (x0, y0, x1, y1) of the pixels that differ between two same-sized grabs, or None."""
    if a == b:
        return None
    rows = len(a) // stride
    ys = [y for y in range(rows) if a[y * stride:(y + 1) * stride] != b[y * stride:(y + 1) * stride]]
    x0, x1 = stride, 0
    for y in ys:
        ra, rb = a[y * stride:(y + 1) * stride], b[y * stride:(y + 1) * stride]
        first = next(i for i in range(0, stride, bpp) if ra[i:i + bpp] != rb[i:i + bpp])
        last = next(i for i in range(stride - bpp, -1, -bpp) if ra[i:i + bpp] != rb[i:i + bpp])
        x0, x1 = min(x0, first // bpp), max(x1, last // bpp)
    return x0, ys[0], x1 + 1, ys[-1] + 1


def wait_change(display, box, before, t0, timeout):
    """Polls the rectangle until its pixels differ from `before`: the seconds since `t0` (a
    `time.perf_counter()` taken just before the event was sent), or None after `timeout`."""
    x, y, w, h = box
    while True:
        now, _ = display.grab(x, y, w, h)
        t = time.perf_counter() - t0
        if now != before:
            return t
        if t > timeout:
            return None


# --------------------------------------------------------------------------------------------
# XDamage: what a client draws, counted from outside.

_xdamage = ctypes.CDLL(ctypes.util.find_library("Xdamage") or "libXdamage.so.1")
_xdamage.XDamageQueryExtension.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int),
                                           ctypes.POINTER(ctypes.c_int)]
_xdamage.XDamageCreate.restype = ctypes.c_ulong
_xdamage.XDamageCreate.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int]
_x11.XPending.argtypes = [ctypes.c_void_p]
_x11.XNextEvent.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
_x11.XConnectionNumber.argtypes = [ctypes.c_void_p]

_DAMAGE_REPORT_RAW_RECTANGLES = 0


class _XRectangle(ctypes.Structure):
    _fields_ = [("x", ctypes.c_short), ("y", ctypes.c_short), ("width", ctypes.c_ushort),
                ("height", ctypes.c_ushort)]


class _XDamageNotifyEvent(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong), ("send_event", ctypes.c_int),
                ("display", ctypes.c_void_p), ("drawable", ctypes.c_ulong), ("damage", ctypes.c_ulong),
                ("level", ctypes.c_int), ("more", ctypes.c_int), ("timestamp", ctypes.c_ulong),
                ("area", _XRectangle), ("geometry", _XRectangle)]


class _XEvent(ctypes.Union):
    _fields_ = [("type", ctypes.c_int), ("damage", _XDamageNotifyEvent), ("pad", ctypes.c_long * 24)]


class DamageRecorder:
    """Records every rectangle drawn on an X display's root window (and so in any window on it:
    Xvfb has no compositor), with the X server's millisecond timestamp, from a thread of its
    own. `start()`, the workload, `stop()`, then `frames(w, h)`."""

    def __init__(self, name):
        import threading
        self.dpy = _x11.XOpenDisplay(name.encode())
        if not self.dpy:
            raise RuntimeError(f"cannot open X display {name}")
        ev, err = ctypes.c_int(), ctypes.c_int()
        if not _xdamage.XDamageQueryExtension(self.dpy, ctypes.byref(ev), ctypes.byref(err)):
            raise RuntimeError("no DAMAGE extension")
        self.event_type = ev.value  # + XDamageNotify (0)
        self.rects = []
        self.running = False
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def start(self):
        root = _x11.XDefaultRootWindow(self.dpy)
        _xdamage.XDamageCreate(self.dpy, root, _DAMAGE_REPORT_RAW_RECTANGLES)
        _x11.XSync(self.dpy, 0)
        self.running = True
        self.thread.start()

    def _loop(self):
        import select
        fd = _x11.XConnectionNumber(self.dpy)
        event = _XEvent()
        while self.running:
            while _x11.XPending(self.dpy):
                _x11.XNextEvent(self.dpy, ctypes.byref(event))
                if event.type == self.event_type:
                    d = event.damage
                    self.rects.append((d.timestamp, d.area.x, d.area.y, d.area.width, d.area.height))
            select.select([fd], [], [], 0.1)

    def stop(self):
        self.running = False
        self.thread.join()
        _x11.XCloseDisplay(self.dpy)
        self.dpy = None

    def frames(self, width, height, gap_ms=8):
        """(pixels drawn, updates): an update is a burst of rectangles no more than `gap_ms`
        apart (server time) covering at least half a `width`×`height` frame; the pixels count
        every rectangle drawn (overlaps included)."""
        pixels = sum(w * h for _, _, _, w, h in self.rects)
        updates, burst, last = 0, 0, None
        for t, _, _, w, h in sorted(self.rects, key=lambda r: r[0]):
            if last is not None and t - last > gap_ms:
                updates += burst >= width * height // 2
                burst = 0
            burst += w * h
            last = t
        updates += burst >= width * height // 2
        return pixels, updates
