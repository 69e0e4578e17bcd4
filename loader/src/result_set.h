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
  nlohmann::json previous_manifest_;
};

// Reads a cells.jsonl: the parsed cells, and the count of lines skipped.
std::vector<nlohmann::json> read_cells(const std::string& path, uint32_t* skipped);

}  // namespace mmlab
