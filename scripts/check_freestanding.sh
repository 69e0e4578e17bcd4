#!/usr/bin/env bash
# Checks that a freestanding i386 archive (the mm core, lib/formats) needs
# no runtime: every undefined symbol must be one the kernel provides (mem*
# and the arch hooks), the objects must be ELF32 i386, and nothing may need
# static constructors. Fails the build otherwise.
set -euo pipefail
lib="$1"
fmt=$(objdump -f "$lib" | awk '/file format/ {print $NF}' | sort -u)
if [ "$fmt" != "elf32-i386" ]; then
  echo "check_freestanding: $lib is '$fmt', expected elf32-i386" >&2
  exit 1
fi
allowed='^(memset|memcpy|memmove|memcmp|_ZN4arch[0-9A-Za-z_]*|_ZN2mm11assert_fail[0-9A-Za-z_]*)$'
# Undefined in some object and defined in none: what the archive needs from outside.
defined=$(nm --defined-only "$lib" | awk 'NF==3 {print $3}' | sort -u)
needed=$(comm -23 <(nm -u "$lib" | awk 'NF==2 {print $2}' | sort -u) <(echo "$defined"))
bad=$(echo "$needed" | grep -Ev "$allowed" | grep -v '^$' || true)
if [ -n "$bad" ]; then
  echo "check_freestanding: $lib needs symbols a kernel does not have:" >&2
  echo "$bad" | c++filt | sed 's/^/  /' >&2
  exit 1
fi
if objdump -h "$lib" | grep -Eq '\.(init_array|ctors|eh_frame)\b'; then
  echo "check_freestanding: $lib has static constructors or unwind tables" >&2
  objdump -h "$lib" | grep -E '\.(init_array|ctors|eh_frame)' >&2
  exit 1
fi
echo "check_freestanding: $(basename "$lib") ok (elf32-i386; needs only: $(echo "$needed" | c++filt | sed 's/(.*//' | sort -u | tr '\n' ' '))"
