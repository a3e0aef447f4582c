#!/usr/bin/env python3
"""Generate flatpak-builder sources that vendor every crate of Cargo.lock.

The output (flatpak/cargo-sources.json) lists, for each crates.io package of
the lock file:
  * an `archive` source: the .crate from static.crates.io, checked with the
    sha256 Cargo.lock records, unpacked into cargo/vendor/<name>-<version>;
  * an `inline` source writing that directory's .cargo-checksum.json (the
    package checksum, no per-file sums), which cargo requires of a vendored
    crate;
and finally an inline cargo/config.toml that replaces crates.io with the
vendored directory. The app module then builds with `cargo --offline` and
CARGO_HOME=/run/build/<module>/cargo, without network.

Only the Python standard library is used. Workspace members (no `source`)
are skipped; a git or other non-crates.io source is an error, since it would
need network at build time.

Usage:
  flatpak/gen-cargo-sources.py [Cargo.lock] [-o flatpak/cargo-sources.json]
  flatpak/gen-cargo-sources.py --check   # exit 1 if the JSON is out of date
"""

import argparse
import json
import re
import sys
from pathlib import Path

CRATES_IO = "registry+https://github.com/rust-lang/crates.io-index"
DOWNLOAD = "https://static.crates.io/crates/{name}/{name}-{version}.crate"
VENDOR_DIR = "cargo/vendor"
CARGO_CONFIG = (
    "[source.vendored-sources]\n"
    f'directory = "{VENDOR_DIR}"\n'
    "\n"
    "[source.crates-io]\n"
    'replace-with = "vendored-sources"\n'
)
SHA256 = re.compile(r"^[0-9a-f]{64}$")


def read_packages(lock_path):
    """The [[package]] tables of a Cargo.lock (version 3 or 4)."""
    text = lock_path.read_text(encoding="utf-8")
    try:
        import tomllib  # Python >= 3.11
    except ModuleNotFoundError:  # pragma: no cover - older Pythons
        return parse_lock_minimal(text)
    data = tomllib.loads(text)
    version = data.get("version", 1)
    if version < 3:
        raise SystemExit(f"{lock_path}: lock file version {version} has no inline checksums; run `cargo update -w`")
    return data.get("package", [])


def parse_lock_minimal(text):
    """A fallback reader for the simple key = "value" lines of [[package]]."""
    packages, current = [], None
    for line in text.splitlines():
        line = line.strip()
        if line == "[[package]]":
            current = {}
            packages.append(current)
        elif line.startswith("[") and line != "[[package]]":
            current = None
        elif current is not None:
            m = re.match(r'^([a-z_-]+)\s*=\s*"(.*)"$', line)
            if m:
                current[m.group(1)] = m.group(2)
    return packages


def sources_for(packages):
    out = []
    problems = []
    for pkg in sorted(packages, key=lambda p: (p["name"], p["version"])):
        source = pkg.get("source")
        if source is None:
            continue  # a workspace member or path dependency: part of the app's own source
        name, version = pkg["name"], pkg["version"]
        if source != CRATES_IO:
            problems.append(f"{name} {version}: unsupported source {source} (only crates.io can be vendored offline)")
            continue
        checksum = pkg.get("checksum", "")
        if not SHA256.match(checksum):
            problems.append(f"{name} {version}: no sha256 checksum in Cargo.lock")
            continue
        dest = f"{VENDOR_DIR}/{name}-{version}"
        out.append(
            {
                "type": "archive",
                "archive-type": "tar-gzip",
                "url": DOWNLOAD.format(name=name, version=version),
                "sha256": checksum,
                "dest": dest,
            }
        )
        out.append(
            {
                "type": "inline",
                "contents": json.dumps({"package": checksum, "files": {}}),
                "dest": dest,
                "dest-filename": ".cargo-checksum.json",
            }
        )
    if problems:
        raise SystemExit("cannot vendor:\n  " + "\n  ".join(problems))
    out.append({"type": "inline", "contents": CARGO_CONFIG, "dest": "cargo", "dest-filename": "config.toml"})
    return out


def render(sources):
    return json.dumps(sources, indent=4) + "\n"


def main():
    root = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("lock", nargs="?", default=root / "Cargo.lock", type=Path, help="Cargo.lock to read")
    ap.add_argument("-o", "--output", default=root / "flatpak" / "cargo-sources.json", type=Path)
    ap.add_argument("--check", action="store_true", help="do not write; fail if the output is out of date")
    args = ap.parse_args()

    text = render(sources_for(read_packages(args.lock)))
    crates = text.count('"type": "archive"')
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(
                f"{args.output} is out of date with {args.lock}; run flatpak/gen-cargo-sources.py",
                file=sys.stderr,
            )
            return 1
        print(f"{args.output}: up to date ({crates} crates)")
        return 0
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output}: {crates} crates")
    return 0


if __name__ == "__main__":
    sys.exit(main())
