// A writer for the cpio "newc" layout that formats/cpio.h reads, for the
// host (it appends to a std::string, so the kernel does not build it). It
// writes what scripts/mkinitrd.py writes, byte for byte: uid, gid, mtime,
// device numbers and check 0, nlink 2 for a directory and 1 otherwise, the
// name stored as given.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace formats {

// Appends one entry: header, name and its NUL, NULs to a multiple of 4,
// data, NULs to a multiple of 4. Padding counts from the start of *out,
// which is where the archive must start. data is under 4 GiB.
void cpio_append(std::string* out, std::string_view name, uint32_t mode, std::string_view data, uint32_t ino);

// Appends the entry that ends an archive (TRAILER!!!, inode 0, mode 0).
void cpio_append_trailer(std::string* out);

}  // namespace formats
