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

namespace mmlab {

struct AccelChoice {
  bool kvm = false;
  std::string reason;
};

// `auto`: KVM if /dev/kvm opens and a probe guest (our kernel running /hello)
// finishes under KVM within `probe_deadline_s`; else TCG, saying why.
// `kvm`: KVM if /dev/kvm opens (no probe; a failing cell then says so).
// `tcg` and deterministic runs: TCG.
AccelChoice choose_accel(Accel requested, bool deterministic, const GuestPaths& paths, double probe_deadline_s);

// A started QEMU: fork, optional CPU pinning, its own process group (so a
// Ctrl-C reaches the loader, which then stops the VMs), stdout and stderr to
// `log_path`, and a hook that runs in the parent between fork and exec
// (host counters are opened there, on the waiting child).
pid_t spawn(const std::vector<std::string>& argv, const std::string& log_path, const std::vector<int>& cpus,
            const std::function<void(pid_t)>& before_exec);

// Waits for `pid` up to `deadline_s` seconds and kills it then. Its exit
// status (128 + the signal if a signal ended it), or -1 if it was killed.
int wait_with_deadline(pid_t pid, double deadline_s);

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
