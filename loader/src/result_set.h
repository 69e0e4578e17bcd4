// A result set on disk (docs/records.md, "Result sets"):
//   DIR/manifest.json   provenance, rewritten atomically at start and end
//   DIR/matrix.toml     the matrix as run
//   DIR/cells.jsonl     one JSON line per finished cell, appended with one
//                       write and fsynced as each cell ends
//   DIR/cells/ID/       each cell's console.log, records.jsonl, qemu.log
#pragma once

#include <nlohmann/json.hpp>
#include <set>
#include <string>

namespace mmlab {

class ResultSet {
 public:
  // Makes DIR ready before any VM starts: creates it, checks that it is
  // writable and has room (at least 64 MiB free), and refuses one that
  // already holds cells unless `resume`. With `resume`, reads the cells
  // already there. Throws std::runtime_error with a clear message.
  ResultSet(const std::string& dir, bool resume);
  ~ResultSet();
  ResultSet(const ResultSet&) = delete;
  ResultSet& operator=(const ResultSet&) = delete;

  const std::string& dir() const { return dir_; }
  // The keys (Cell::key) of the cells recorded before this run.
  const std::set<std::string>& done() const { return done_; }
  // Lines of cells.jsonl that did not parse (a killed writer's half line):
  // skipped, counted, and reported.
  uint32_t skipped_lines() const { return skipped_; }
  const nlohmann::json& previous_manifest() const { return previous_manifest_; }

  // A run starts with this much free space in its output directory.
  static constexpr uint64_t kMinFreeToStart = 64ull << 20;
  // Below this, a cell that just ended may have lost console or records
  // output to a full disk: it is not recorded (a resume runs it again).
  static constexpr uint64_t kMinFreeToRecord = 4ull << 20;
  // Throws "the output directory D has N MiB free; WHY" below min_bytes.
  void require_space(uint64_t min_bytes, const std::string& why) const;

  // Appends one cell; throws if the line could not be written whole.
  void append(const nlohmann::json& cell);
  void write_manifest(const nlohmann::json& manifest);
  // DIR/cells/ID/, created.
  std::string cell_dir(const std::string& id);

 private:
  std::string dir_;
  int fd_ = -1;
  std::set<std::string> done_;
  uint32_t skipped_ = 0;
  size_t appended_ = 0;  // cells this process appended
  nlohmann::json previous_manifest_;
};

// Reads a cells.jsonl: the parsed cells, and the count of lines skipped.
std::vector<nlohmann::json> read_cells(const std::string& path, uint32_t* skipped);

}  // namespace mmlab
