#!/usr/bin/env bash
# fetch_busybox.sh OUTDIR
#
# Makes OUTDIR/busybox: the static i386 busybox from Debian's busybox-static:i386
# package. It becomes the guest's /bin/sh. The binary is fetched at build time
# and never committed.
#
# The .deb is downloaded with `apt-get download` into OUTDIR/debs and unpacked
# with `dpkg-deb -x`. If apt does not know the i386 package, the i386 foreign
# architecture is added and the package lists refreshed (this needs root), then
# the download is retried once.
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
pkg=busybox-static:i386

# As root, apt drops to the _apt user to download, which cannot write into a
# build directory; download as root instead of warning about it.
apt_opts=(-q)
if [[ $(id -u) -eq 0 ]]; then
  apt_opts+=(-o APT::Sandbox::User=root)
fi

download() {
  # apt-get download writes into the current directory.
  (cd "$cache" && rm -f busybox-static_*_i386.deb && apt-get download "${apt_opts[@]}" "$pkg")
}

if ! download; then
  say "apt-get could not download $pkg; adding the i386 architecture and refreshing the package lists"
  if ! dpkg --print-foreign-architectures | grep -qx i386; then
    dpkg --add-architecture i386 || die "dpkg --add-architecture i386 failed (this needs root)"
  fi
  # One unreachable or broken index must not stop us: the i386 lists we need
  # may still have arrived.
  apt-get update -q || say "apt-get update reported errors; trying the download anyway"
  download || die "could not download $pkg with apt-get (is a Debian mirror with i386 reachable?)"
fi

shopt -s nullglob
debs=("$cache"/busybox-static_*_i386.deb)
[[ ${#debs[@]} -eq 1 ]] || die "expected one busybox-static i386 .deb in $cache, found ${#debs[@]}"

tree=$cache/tree
rm -rf "$tree"
dpkg-deb -x "${debs[0]}" "$tree" || die "dpkg-deb -x ${debs[0]} failed"
[[ -f "$tree/bin/busybox" ]] || die "${debs[0]} holds no bin/busybox"

# Check what we got before installing it under its final name.
desc=$(file -b "$tree/bin/busybox")
case $desc in
  *"ELF 32-bit"*"Intel 80386"*"statically linked"* | *"ELF 32-bit"*"Intel i386"*"statically linked"*) ;;
  *) die "bin/busybox from ${debs[0]} is not a static 32-bit i386 ELF: $desc" ;;
esac

cp "$tree/bin/busybox" "$out/busybox.tmp"
chmod 0755 "$out/busybox.tmp"
mv "$out/busybox.tmp" "$out/busybox"
rm -rf "$tree"
say "$out/busybox: $desc"
