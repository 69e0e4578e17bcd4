#!/usr/bin/env python3
"""Build the guest initrd: a cpio "newc" (070701) archive.

    mkinitrd.py -o OUT.cpio DEST=SRC [DEST=SRC ...]

Each DEST is an absolute guest path (/bin/sh); SRC is the host file whose
content it gets. A file is stored 0100755 if SRC has any execute bit on the host,
else 0100644. Every parent directory of a DEST is stored once, 040755, before
anything inside it.

The output is deterministic: entries sorted by path (so a directory precedes
its contents), mtime 0, uid/gid 0, inode numbers 1, 2, 3... in archive order,
names stored without the leading '/'. Header+name and data are each padded
to 4 bytes; the archive ends with a TRAILER!!! entry.

Bad arguments (a missing SRC, a relative DEST, the same DEST twice) exit 2
with a message naming the problem.
"""

import argparse
import os
import posixpath
import sys

MAGIC = b"070701"
TRAILER = "TRAILER!!!"
MODE_DIR = 0o040755
MODE_EXEC = 0o100755
MODE_FILE = 0o100644


class UsageError(Exception):
    pass


def pad4(n):
    return (4 - n % 4) % 4


def header(ino, mode, nlink, filesize, name):
    """One newc header + NUL-terminated name + padding to 4 bytes."""
    namesize = len(name) + 1
    fields = [
        ino,
        mode,
        0,  # uid
        0,  # gid
        nlink,
        0,  # mtime
        filesize,
        0,  # devmajor
        0,  # devminor
        0,  # rdevmajor
        0,  # rdevminor
        namesize,
        0,  # check
    ]
    raw = MAGIC + b"".join(b"%08X" % f for f in fields) + name + b"\0"
    return raw + b"\0" * pad4(len(raw))


def parse_mapping(arg):
    """'DEST=SRC' -> (normalized DEST, SRC)."""
    dest, sep, src = arg.partition("=")
    if not sep or not dest or not src:
        raise UsageError(f"{arg!r}: expected DEST=SRC")
    if not dest.startswith("/"):
        raise UsageError(f"{dest!r}: DEST must be an absolute guest path")
    norm = "/" + posixpath.normpath(dest).lstrip("/")
    if norm == "/":
        raise UsageError(f"{dest!r}: DEST must name a file below /")
    if not os.path.exists(src):
        raise UsageError(f"{src!r} (for {dest}): no such file")
    if not os.path.isfile(src):
        raise UsageError(f"{src!r} (for {dest}): not a regular file")
    return norm, src


def plan(mappings):
    """The archive's entries, sorted: a list of (guest path, SRC or None for a directory)."""
    files = {}
    for arg in mappings:
        dest, src = parse_mapping(arg)
        if dest in files:
            raise UsageError(f"{dest!r}: DEST given twice ({files[dest]!r} and {src!r})")
        files[dest] = src
    dirs = set()
    for dest in files:
        parent = posixpath.dirname(dest)
        while parent != "/":
            dirs.add(parent)
            parent = posixpath.dirname(parent)
    clash = dirs & files.keys()
    if clash:
        raise UsageError(f"{sorted(clash)[0]!r}: is both a file and a parent directory")
    entries = [(d, None) for d in dirs] + list(files.items())
    # Sorting by path components puts a directory before its contents.
    entries.sort(key=lambda e: e[0].split("/"))
    return entries


def build(entries):
    out = bytearray()
    for ino, (path, src) in enumerate(entries, start=1):
        name = path.lstrip("/").encode()
        if src is None:
            out += header(ino, MODE_DIR, 2, 0, name)
            continue
        with open(src, "rb") as f:
            data = f.read()
        mode = MODE_EXEC if os.stat(src).st_mode & 0o111 else MODE_FILE
        out += header(ino, mode, 1, len(data), name)
        out += data + b"\0" * pad4(len(data))
    out += header(0, 0, 1, 0, TRAILER.encode())
    return bytes(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Build a cpio newc initrd from DEST=SRC pairs.")
    ap.add_argument("-o", "--output", required=True, help="the .cpio file to write")
    ap.add_argument("mappings", nargs="+", metavar="DEST=SRC")
    args = ap.parse_args(argv)
    try:
        archive = build(plan(args.mappings))
    except UsageError as e:
        print(f"mkinitrd.py: error: {e}", file=sys.stderr)
        return 2
    tmp = args.output + ".tmp"
    with open(tmp, "wb") as f:
        f.write(archive)
    os.replace(tmp, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
