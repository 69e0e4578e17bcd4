// Running a matrix: accel choice, one fresh VM per cell, several at once,
// deadlines, host counters, progress, interruption and resumption.
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "guest.h"
#include "matrix.h"
#include "vm_process.h"

namespace mmlab {

struct RunOptions {
  std::string matrix_path;
  std::string out_dir;
  std::optional<Accel> accel;         // overrides the matrix
  std::optional<bool> deterministic;  // overrides the matrix
  std::optional<bool> tlb_model;      // overrides the matrix's tlb_model (--tlb-model, --no-tlb-model)
  uint32_t jobs = 0;                  // 0: host CPUs / the largest vCPU count (deterministic: host CPUs)
  bool oversubscribe = false;         // allow more wall-clock vCPUs than host CPUs at once
  bool resume = false;
  bool quiet = false;
  uint32_t shard_index = 0, shard_count = 1;
  std::string command_line;
};

// Runs the matrix into the result set; returns the exit code: 0 when every
// cell is ok, 1 when some are not or the run was interrupted.
int run_matrix(const Matrix& m, const std::string& matrix_text, const RunOptions& o);

}  // namespace mmlab
