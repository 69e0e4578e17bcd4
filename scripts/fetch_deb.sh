#!/usr/bin/env bash
# fetch_deb.sh PACKAGE:ARCH DIR
#
# Downloads one Debian package (.deb) into DIR with `apt-get download` and
# prints the .deb's path on stdout. Nothing is installed. Used by
# fetch_busybox.sh and fetch_linux_pae.sh for i386 packages this amd64
# machine does not install.
#
# If apt does not know the package, the package's foreign architecture is
# added and the package lists refreshed (this needs root), then the download
# is retried once. One broken index (seen with i386 lists) does not stop it.
set -euo pipefail

die() {
  echo "fetch_deb.sh: error: $*" >&2
  exit 1
}
say() { echo "fetch_deb.sh: $*" >&2; }

[[ $# -eq 2 ]] || die "usage: fetch_deb.sh PACKAGE:ARCH DIR"
pkg=$1
name=${pkg%%:*}
arch=${pkg##*:}
[[ "$name" != "$pkg" && -n "$arch" ]] || die "give the architecture: PACKAGE:ARCH (got '$pkg')"
mkdir -p "$2"
dir=$(cd "$2" && pwd)

# As root, apt drops to the _apt user to download, which cannot write into a
# build directory; download as root instead of warning about it.
apt_opts=(-q)
if [[ $(id -u) -eq 0 ]]; then
  apt_opts+=(-o APT::Sandbox::User=root)
fi

download() {
  # apt-get download writes into the current directory.
  (cd "$dir" && rm -f "${name}"_*_"${arch}".deb && apt-get download "${apt_opts[@]}" "$pkg" >&2)
}

if ! download; then
  say "apt-get could not download $pkg; adding the $arch architecture and refreshing the package lists"
  if [[ "$arch" != "$(dpkg --print-architecture)" ]] && ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
    dpkg --add-architecture "$arch" || die "dpkg --add-architecture $arch failed (this needs root)"
  fi
  apt-get update -q >&2 || say "apt-get update reported errors; trying the download anyway"
  download || die "could not download $pkg with apt-get (is a Debian mirror with $arch reachable?)"
fi

shopt -s nullglob
debs=("$dir"/"${name}"_*_"${arch}".deb)
[[ ${#debs[@]} -eq 1 ]] || die "expected one ${name} ${arch} .deb in $dir, found ${#debs[@]}"
echo "${debs[0]}"
