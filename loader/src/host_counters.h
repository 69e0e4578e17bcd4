// Host counters for one QEMU process and all its threads (perf_event_open
// with inherit), and what this host can count at all (for doctor and the
// manifest). What cannot be counted is recorded with the reason, never as 0.
#pragma once

#include <sys/types.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace mmlab {

class HostCounters {
 public:
  HostCounters() = default;
  HostCounters(const HostCounters&) = delete;
  HostCounters& operator=(const HostCounters&) = delete;
  ~HostCounters();

  // Opens the counters on `pid`, a child that has not exec'd QEMU yet (it
  // waits for the loader): enable_on_exec starts them at the exec, inherit
  // follows every thread QEMU creates. `kvm`: also count kvm_exit.
  void open(pid_t pid, bool kvm);
  // After QEMU has exited: {"task_clock_ns": {"value": N}, ...} with
  // {"unavailable": "why"} for each counter that could not be opened.
  nlohmann::json read() const;

 private:
  struct Counter {
    std::string name;
    int fd = -1;
    std::string unavailable;
  };
  std::vector<Counter> counters_;
  // kvm_exit per reason, under KVM: the filtered counters, then "other".
  std::vector<Counter> exit_reasons_;
  std::string exit_reasons_unavailable_;
};

// The exit reasons counted one by one under KVM (the rest is "other"): the
// common ones of VMX (Intel SDM vol. 3, Appendix C) or SVM (AMD APM vol. 2,
// Appendix C), chosen by the host CPU's vendor.
struct ExitReason {
  uint32_t code;
  const char* name;
};
const std::vector<ExitReason>& kvm_exit_reasons(bool amd);
// The tracepoint filter that keeps one reason's kvm_exit events.
std::string kvm_exit_filter(uint32_t code);

// One line per capability for `mmlab doctor` and the manifest: perf_event
// software and hardware events (guest/host split), the kvm_exit tracepoint,
// PAPI's components. Each entry: {"available": bool, "detail": "..."}.
nlohmann::json host_capabilities();

}  // namespace mmlab
