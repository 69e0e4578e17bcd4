#!/usr/bin/env bash
# fetch_linux_pae.sh OUTDIR
#
# Makes OUTDIR/vmlinuz (and OUTDIR/config, OUTDIR/version): Debian's Linux
# PAE kernel for i386, the lab's anchor (docs/linux-anchor.md). Never
# committed, fetched at build time.
#
# linux-image-686-pae:i386 is a metapackage; its Depends names the real
# image package (linux-image-6.1.0-N-686-pae), whose .deb (about 52 MB)
# holds boot/vmlinuz-*. Only boot/ is unpacked; the modules are not needed
# (the guest has no disks and no network; the serial ports, ACPI and
# devtmpfs are built in).
#
# Idempotent: does nothing when OUTDIR/vmlinuz already exists.
set -euo pipefail

die() {
  echo "fetch_linux_pae.sh: error: $*" >&2
  exit 1
}
say() { echo "fetch_linux_pae.sh: $*" >&2; }

[[ $# -eq 1 ]] || die "usage: fetch_linux_pae.sh OUTDIR"
out=$1
[[ -e "$out/vmlinuz" ]] && exit 0
mkdir -p "$out/debs"
out=$(cd "$out" && pwd)
here=$(dirname "$0")

meta=$("$here"/fetch_deb.sh linux-image-686-pae:i386 "$out/debs") || die "could not fetch linux-image-686-pae:i386"
image=$(dpkg-deb -f "$meta" Depends | tr ',' '\n' | sed -n 's/^ *\(linux-image-[0-9][^ ]*-686-pae\).*/\1/p' | head -n 1)
[[ -n "$image" ]] || die "$meta does not depend on a linux-image-*-686-pae package (Depends: $(dpkg-deb -f "$meta" Depends))"
deb=$("$here"/fetch_deb.sh "$image:i386" "$out/debs") || die "could not fetch $image:i386"

tree=$out/debs/tree
rm -rf "$tree"
mkdir -p "$tree"
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tree" --wildcards './boot/*' || die "could not unpack boot/ from $deb"
shopt -s nullglob
kernels=("$tree"/boot/vmlinuz-*)
[[ ${#kernels[@]} -eq 1 ]] || die "expected one boot/vmlinuz-* in $deb, found ${#kernels[@]}"
desc=$(file -b "${kernels[0]}")
case $desc in
  *"Linux kernel x86 boot executable"*) ;;
  *) die "${kernels[0]} is not an x86 Linux kernel image: $desc" ;;
esac
version=${kernels[0]##*/vmlinuz-}
cp "$tree/boot/config-$version" "$out/config"
echo "$version $(dpkg-deb -f "$deb" Version)" > "$out/version"
cp "${kernels[0]}" "$out/vmlinuz.tmp"
mv "$out/vmlinuz.tmp" "$out/vmlinuz"
rm -rf "$tree" "$deb"
say "$out/vmlinuz: Linux $version ($image $(dpkg-deb -f "$meta" Version))"
