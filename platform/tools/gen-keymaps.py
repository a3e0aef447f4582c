#!/usr/bin/env python3
"""Generate Sumac's keycode -> PC XT scancode tables (platform/src/keymap/gen_*.rs).

Input: platform/tools/data/keymaps.csv, an unmodified copy of keycodemapdb's
data/keymaps.csv (see platform/tools/data/SOURCE for where it comes from and
its licence). Python 3 standard library only.

Usage (from anywhere):
    python3 platform/tools/gen-keymaps.py            # rewrite the checked-in tables
    python3 platform/tools/gen-keymaps.py --check    # exit 1 if they are out of date
    python3 platform/tools/gen-keymaps.py --out-dir DIR   # write the tables into DIR

Target code set ("xtkbd" in keycodemapdb's terms): the PC XT / AT set-1 make
code in the low byte; keys whose set-1 make code is the two-byte sequence
E0 xx become 0x100 | xx.  The two Korean keys whose set-1 codes are the single
bytes 0xF1 (Hanja) and 0xF2 (Hangeul) keep those values.  0 means "no key".

Sources (the row's Linux keycode is the pivot, as in keycodemapdb):
  evdev      Linux input keycode (column "Linux Keycode")
  x11_evdev  X server with the evdev/libinput driver: Linux keycode + 8
  xfree86    X server with the old kbd driver: "Xfree86 KBD XT" + 8
  xquartz    XQuartz (macOS X server): "OS-X Keycode" + 8
  xwin       Cygwin/X (XWin): "Xwin XT" + 8
  win32      Windows virtual-key codes (column "Win32 Keycode")
  macos      macOS virtual keycodes (column "OS-X Keycode")

When one source code appears on rows that give different XT codes, the FIRST
row wins (keycodemapdb's own generator keeps the last one): the first row is
the key a standard PC/ISO keyboard has (e.g. Windows VK_OEM_102 is the ISO
"<>" key 0x56 rather than the Japanese Ro key 0x73). Exception: the xfree86
table keeps the LAST row, which agrees with xkeyboard-config's
keycodes/xfree86 (120-122 are F15-F17, not the Japanese/Korean keys).  Every such conflict is
listed in the generated file so the choice is visible and reviewable.
"""

import argparse
import csv
import hashlib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DATA_DIR = os.path.join(HERE, "data")
CSV_PATH = os.path.join(DATA_DIR, "keymaps.csv")
SOURCE_PATH = os.path.join(DATA_DIR, "SOURCE")
OUT_DIR = os.path.normpath(os.path.join(HERE, "..", "src", "keymap"))

COL_LINUX_NAME = "Linux Name"
COL_LINUX = "Linux Keycode"
COL_OSX_NAME = "OS-X Name"
COL_OSX = "OS-X Keycode"
COL_AT1 = "AT set1 keycode"
COL_WIN32_NAME = "Win32 Name"
COL_WIN32 = "Win32 Keycode"
COL_XWINXT = "Xwin XT"
COL_XKBDXT = "Xfree86 KBD XT"

# Korean keys whose set-1 code is a single byte above 0x7f (no E0 prefix).
SINGLE_BYTE_HIGH = (0xF1, 0xF2)

# (file stem, Rust const name, doc line, source column, offset, name column for comments,
#  which row wins when one source code has rows with different XT codes)
TABLES = [
    ("evdev", "EVDEV", "Linux evdev keycode (`linux/input-event-codes.h`)", COL_LINUX, 0, None, "first"),
    ("x11_evdev", "X11_EVDEV", "X11 keycode of a server using evdev/libinput keycodes (Linux keycode + 8)",
     COL_LINUX, 8, None, "first"),
    ("xfree86", "XFREE86", "X11 keycode of a server using the old kbd driver's \"xfree86\" keycodes",
     COL_XKBDXT, 8, None, "last"),
    ("xquartz", "XQUARTZ", "X11 keycode of XQuartz (macOS virtual keycode + 8)", COL_OSX, 8, COL_OSX_NAME, "first"),
    ("xwin", "XWIN", "X11 keycode of Cygwin/X (XWin)", COL_XWINXT, 8, None, "first"),
    ("win32", "WIN32", "Windows virtual-key code (`VK_*`)", COL_WIN32, 0, COL_WIN32_NAME, "first"),
    ("macos", "MACOS", "macOS virtual keycode (`kVK_*`, Carbon `Events.h`)", COL_OSX, 0, COL_OSX_NAME, "first"),
]


def parse_int(text):
    text = text.strip()
    if text == "":
        return None
    if text.lower().startswith("0x"):
        return int(text, 16)
    if text.isdigit():
        return int(text, 10)
    raise ValueError("not a number: %r" % text)


def to_xt(at1):
    """keycodemapdb's AT set-1 value -> Sumac's u16 (xtkbd convention)."""
    if at1 <= 0x7F or at1 in SINGLE_BYTE_HIGH:
        return at1
    if at1 & ~0x7F != 0xE000:
        raise ValueError("unexpected set-1 code 0x%x" % at1)
    return 0x100 | (at1 & 0x7F)


def read_source():
    info = {}
    with open(SOURCE_PATH, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, _, value = line.partition("=")
            info[key.strip()] = value.strip()
    for key in ("repository", "path", "commit", "commit-date", "license"):
        if key not in info:
            raise SystemExit("%s: missing key %r" % (SOURCE_PATH, key))
    return info


def load_rows():
    with open(CSV_PATH, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        return list(reader)


def build_table(rows, column, offset, name_column, policy):
    """Returns (entries: dict src -> (xt, linux_name, src_name), conflicts: list of str)."""
    entries = {}
    conflicts = []
    for row in rows:
        at1 = parse_int(row[COL_AT1])
        src = parse_int(row[column])
        if at1 is None or src is None:
            continue
        src += offset
        xt = to_xt(at1)
        linux_name = row[COL_LINUX_NAME]
        src_name = row[name_column] if name_column else ""
        if src in entries:
            kept = entries[src]
            if kept[0] != xt:
                if policy == "last":
                    conflicts.append("0x%02x: kept %s (0x%03x), ignored %s (0x%03x)"
                                     % (src, linux_name, xt, kept[1], kept[0]))
                    entries[src] = (xt, linux_name, src_name)
                else:
                    conflicts.append("0x%02x: kept %s (0x%03x), ignored %s (0x%03x)"
                                     % (src, kept[1], kept[0], linux_name, xt))
            continue
        entries[src] = (xt, linux_name, src_name)
    return entries, conflicts


def render(stem, const, doc, column, offset, name_column, policy, rows, source, csv_sha256):
    entries, conflicts = build_table(rows, column, offset, name_column, policy)
    length = max(entries) + 1
    out = []
    out.append("// @generated by platform/tools/gen-keymaps.py: do not edit by hand.")
    out.append("// To regenerate: python3 platform/tools/gen-keymaps.py (check: --check)")
    out.append("//")
    out.append("// Data: keycodemapdb %s, file %s" % (source["repository"], source["path"]))
    out.append("//   commit %s (%s)" % (source["commit"], source["commit-date"]))
    out.append("//   sha256 %s" % csv_sha256)
    out.append("//   copy: platform/tools/data/keymaps.csv; licence of the data: %s" % source["license"])
    out.append("//")
    src_desc = "column \"%s\"" % column + (" + %d" % offset if offset else "")
    out.append("// Source codes: %s; target: set-1 make code, 0x100 = E0-prefixed, 0 = none." % src_desc)
    if conflicts:
        out.append("// Source codes on rows giving different XT codes (%s row kept):" % policy)
        for c in conflicts:
            out.append("//   %s" % c)
    out.append("")
    out.append("/// %s to XT scancode (`0x100` = E0-prefixed, `0` = no key)." % doc)
    out.append("pub(super) const %s: [u16; %d] = [" % (const, length))
    for src in range(length):
        if src in entries:
            xt, linux_name, src_name = entries[src]
            label = linux_name + (" (%s)" % src_name if src_name else "")
            out.append(("    0x%03x, // 0x%02x %s" % (xt, src, label)).rstrip())
        else:
            out.append("    0x000, // 0x%02x" % src)
    out.append("];")
    out.append("")
    return "gen_%s.rs" % stem, "\n".join(out)


def generate():
    source = read_source()
    with open(CSV_PATH, "rb") as f:
        csv_sha256 = hashlib.sha256(f.read()).hexdigest()
    rows = load_rows()
    files = {}
    for stem, const, doc, column, offset, name_column, policy in TABLES:
        name, text = render(stem, const, doc, column, offset, name_column, policy, rows, source, csv_sha256)
        files[name] = text
    return files


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the checked-in files")
    parser.add_argument("--out-dir", default=OUT_DIR, help="where to write (default: %(default)s)")
    args = parser.parse_args()

    files = generate()
    if args.check:
        stale = []
        for name, text in sorted(files.items()):
            path = os.path.join(OUT_DIR, name)
            try:
                with open(path, encoding="utf-8") as f:
                    current = f.read()
            except OSError:
                current = None
            if current != text:
                stale.append(path)
        if stale:
            for path in stale:
                print("out of date: %s" % path, file=sys.stderr)
            print("run: python3 platform/tools/gen-keymaps.py", file=sys.stderr)
            return 1
        print("gen-keymaps: %d tables up to date" % len(files))
        return 0

    os.makedirs(args.out_dir, exist_ok=True)
    for name, text in sorted(files.items()):
        with open(os.path.join(args.out_dir, name), "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
    print("gen-keymaps: wrote %d tables to %s" % (len(files), args.out_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
