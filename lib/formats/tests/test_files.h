// The parser tests' sample files (made at configure time, lib/formats/CMakeLists.txt), read whole.
#pragma once

#include <cstdint>
#include <fstream>
#include <iterator>
#include <vector>

namespace formats_test {

inline std::vector<uint8_t> read_file(const char* path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

}  // namespace formats_test
