#include "formats/cpio_writer.h"

#include <cstdio>

#include "formats/cpio.h"

namespace formats {
namespace {

void pad4(std::string* out) { out->resize((out->size() + 3) & ~std::string::size_type{3}, '\0'); }

}  // namespace

void cpio_append(std::string* out, std::string_view name, uint32_t mode, std::string_view data, uint32_t ino) {
  // The 13 fields in header order (cpio.h): ino mode uid gid nlink mtime
  // filesize devmajor devminor rdevmajor rdevminor namesize check.
  char header[111];
  std::snprintf(header, sizeof header, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X", ino, mode, 0u, 0u,
                cpio_is_dir(mode) ? 2u : 1u, 0u, static_cast<uint32_t>(data.size()), 0u, 0u, 0u, 0u,
                static_cast<uint32_t>(name.size() + 1), 0u);
  out->append(header, sizeof header - 1);
  out->append(name);
  out->push_back('\0');
  pad4(out);
  out->append(data);
  pad4(out);
}

void cpio_append_trailer(std::string* out) { cpio_append(out, "TRAILER!!!", 0, {}, 0); }

}  // namespace formats
