#include "result_set.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "util.h"

namespace mmlab {

using nlohmann::json;
namespace fs = std::filesystem;

std::vector<json> read_cells(const std::string& path, uint32_t* skipped) {
  std::vector<json> cells;
  *skipped = 0;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (trim(line).empty()) continue;
    json c = json::parse(line, nullptr, false);
    if (c.is_discarded() || !c.is_object() || !c.contains("key") || !c["key"].is_string() ||
        (c.contains("id") && !c["id"].is_string())) {
      ++*skipped;
      continue;
    }
    cells.push_back(std::move(c));
  }
  return cells;
}

ResultSet::ResultSet(const std::string& dir, bool resume) : dir_(dir) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) throw std::runtime_error(fmt::format("cannot create the output directory {}: {}", dir_, ec.message()));
  const std::string probe = dir_ + "/.mmlab-write-test";
  if (!write_file_atomic(probe, "ok\n"))
    throw std::runtime_error(fmt::format("the output directory {} is not writable: {}", dir_, std::strerror(errno)));
  ::unlink(probe.c_str());
  require_space(kMinFreeToStart, "a run needs at least 64 MiB");
  const std::string cells = dir_ + "/cells.jsonl";
  if (fs::exists(cells)) {
    if (!resume)
      throw std::runtime_error(
          fmt::format("{} already holds a result set (cells.jsonl); use --resume to finish it, or another -o", dir_));
    for (const json& c : read_cells(cells, &skipped_)) done_.insert(c["key"].get<std::string>());
    if (auto m = read_file(dir_ + "/manifest.json")) previous_manifest_ = json::parse(*m, nullptr, false);
  }
  fd_ = ::open(cells.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) throw std::runtime_error(fmt::format("cannot open {}: {}", cells, std::strerror(errno)));
  // A killed writer may have left a half line: start on a fresh one.
  struct stat st;
  if (::fstat(fd_, &st) == 0 && st.st_size > 0) {
    std::ifstream in(cells, std::ios::binary);
    in.seekg(st.st_size - 1);
    if (in.get() != '\n' && ::write(fd_, "\n", 1) != 1)
      throw std::runtime_error(fmt::format("cannot write {}: {}", cells, std::strerror(errno)));
  }
}

void ResultSet::require_space(uint64_t min_bytes, const std::string& why) const {
  struct statvfs sv;
  if (::statvfs(dir_.c_str(), &sv) != 0) return;  // not knowable: the writes themselves will say
  const uint64_t free_bytes = uint64_t{sv.f_bavail} * sv.f_frsize;
  if (free_bytes < min_bytes)
    throw std::runtime_error(fmt::format("the output directory {} has {} MiB free; {}", dir_, free_bytes >> 20, why));
}

ResultSet::~ResultSet() {
  if (fd_ >= 0) ::close(fd_);
}

void ResultSet::append(const json& cell) {
  const std::string line = json_line(cell) + "\n";
  // One write of the whole line: a reader sees all of it or, if the
  // process dies mid-write, a half line that read_cells skips and counts.
  const off_t before = ::lseek(fd_, 0, SEEK_END);
  const ssize_t n = ::write(fd_, line.data(), line.size());
  if (n != static_cast<ssize_t>(line.size())) {
    const std::string why = n < 0 ? std::strerror(errno) : "short write (disk full?)";
    // Take the half line back so the file holds whole cells only; if that
    // fails too, read_cells skips the half line and counts it.
    const bool rolled_back = before >= 0 && ::ftruncate(fd_, before) == 0;
    throw std::runtime_error(
        fmt::format("cannot append to {}/cells.jsonl: {}{}; the {} cells before it are kept: free space, then rerun "
                    "with --resume",
                    dir_, why, rolled_back ? "" : " (a half line is left; reads skip it)", done_.size() + appended_));
  }
  ++appended_;
  ::fsync(fd_);
}

void ResultSet::write_manifest(const json& manifest) {
  if (!write_file_atomic(dir_ + "/manifest.json", json_text(manifest, 2) + "\n"))
    throw std::runtime_error(fmt::format("cannot write {}/manifest.json: {}", dir_, std::strerror(errno)));
}

std::string ResultSet::cell_dir(const std::string& id) {
  const std::string d = dir_ + "/cells/" + id;
  std::error_code ec;
  fs::create_directories(d, ec);
  if (ec) throw std::runtime_error(fmt::format("cannot create {}: {}", d, ec.message()));
  return d;
}

}  // namespace mmlab
