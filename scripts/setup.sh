#!/usr/bin/env bash
# Installs every Debian package mmlab needs. Idempotent: it asks dpkg what is
# missing and runs `apt-get update` + `apt-get install` only when something is.
# Called by `make setup`, which every other make target runs first.
set -euo pipefail

# One list, grouped by what needs it. Keep it the single source of truth:
# a package missing here hides on a developer machine and breaks a fresh one.
PACKAGES=(
  # build: hosted (x86-64) and freestanding i386 builds of the mm core
  build-essential g++ g++-multilib cmake make ninja-build pkg-config binutils
  # clang: -Wthread-safety analysis build and ThreadSanitizer build
  clang libclang-rt-14-dev
  # tests and microbenchmarks
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  # hardware counters for benchmarks (recorded as unavailable where the host has none)
  libpapi-dev papi-tools libpfm4-dev
  # the loader (build/bin/mmlab): command line, matrix files, records, formatting
  libcli11-dev libtomlplusplus-dev nlohmann-json3-dev libfmt-dev
  # formatting (enforced by `make lint`): C++ and Python
  clang-format black
  # the loader's Slurm path, tested on a one-node Slurm started by hand (make test-slurm)
  slurm-wlm munge
  # the guest: QEMU (TCG everywhere, KVM where the host allows)
  qemu-system-x86
  # the stricter second x86 (docs/testing.md, "Bochs"): Bochs, its BIOSes, and the GRUB rescue ISO it boots
  bochs bochsbios vgabios grub-pc-bin grub-common xorriso mtools
  # guest programs: static i386 glibc binaries (gcc -m32 -static)
  libc6-dev-i386 lib32gcc-12-dev
  # Python tooling (scripts/, the boot tests)
  python3 python3-pytest
  # pytest -n: the Python suites on every host CPU (make pytest)
  python3-pytest-xdist
  # the analysis (analysis/): statistics, plots, the HTML report
  python3-numpy python3-scipy python3-matplotlib python3-jinja2
  # hosted parser tests read an archive made by GNU cpio
  cpio file
  # the report rendered by a real browser (analysis/tests/browser_test.py, in
  # `make test`): headless Chromium, and the font its text is drawn in
  chromium fonts-dejavu-core
)

# `setup.sh --list`: the packages, one a line (scripts/tests/test_setup.py
# checks that every tool the suites run comes from one of them).
if [ "${1:-}" = "--list" ]; then
  printf '%s\n' "${PACKAGES[@]}"
  exit 0
fi

missing=()
for p in "${PACKAGES[@]}"; do
  # dpkg-query prints "install ok installed" only for a fully installed package.
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
# One failing index (seen with i386 lists) must not stop the install: apt-get
# install below fails loudly if a package we need really cannot be had.
$SUDO apt-get update -qq || echo "setup: apt-get update reported an error; trying the install anyway" >&2
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: done"
