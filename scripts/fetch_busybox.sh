#!/usr/bin/env bash
# fetch_busybox.sh OUTDIR
#
# Makes OUTDIR/busybox: the static i386 busybox from Debian's busybox-static:i386
# package. It becomes the guest's /bin/sh. The binary is fetched at build time
# and never committed.
#
# The .deb is downloaded into OUTDIR/debs (scripts/fetch_deb.sh: apt-get
# download, adding the i386 architecture if apt does not know it) and
# unpacked with `dpkg-deb -x`.
#
# Idempotent: does nothing when OUTDIR/busybox already exists.
set -euo pipefail

die() {
  echo "fetch_busybox.sh: error: $*" >&2
  exit 1
}
say() { echo "fetch_busybox.sh: $*" >&2; }

[[ $# -eq 1 ]] || die "usage: fetch_busybox.sh OUTDIR"
out=$1
if [[ -e "$out/busybox" ]]; then
  exit 0
fi

mkdir -p "$out/debs"
out=$(cd "$out" && pwd)
cache=$out/debs
deb=$("$(dirname "$0")"/fetch_deb.sh busybox-static:i386 "$cache") || die "could not fetch busybox-static:i386"

tree=$cache/tree
rm -rf "$tree"
dpkg-deb -x "$deb" "$tree" || die "dpkg-deb -x $deb failed"
[[ -f "$tree/bin/busybox" ]] || die "$deb holds no bin/busybox"

# Check what we got before installing it under its final name.
desc=$(file -b "$tree/bin/busybox")
case $desc in
  *"ELF 32-bit"*"Intel 80386"*"statically linked"* | *"ELF 32-bit"*"Intel i386"*"statically linked"*) ;;
  *) die "bin/busybox from $deb is not a static 32-bit i386 ELF: $desc" ;;
esac

cp "$tree/bin/busybox" "$out/busybox.tmp"
chmod 0755 "$out/busybox.tmp"
mv "$out/busybox.tmp" "$out/busybox"
rm -rf "$tree"
say "$out/busybox: $desc"
