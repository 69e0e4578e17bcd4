// The processes behind a VM: the accel choice (with its KVM probe), a
// started emulator (pinned, in its own process group) and its deadline.
#pragma once

#include <sys/types.h>

#include <functional>
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

}  // namespace mmlab
