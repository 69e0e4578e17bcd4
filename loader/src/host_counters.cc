#include "host_counters.h"

#include <fmt/format.h>
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <vector>

#include "util.h"

#if MMLAB_HAVE_PAPI
#include <papi.h>
#endif
#if MMLAB_HAVE_PFM
#include <perfmon/pfmlib_perf_event.h>
#endif

namespace mmlab {

using nlohmann::json;

namespace {

struct EventSpec {
  const char* name;
  uint32_t type;
  uint64_t config;
  bool exclude_guest, exclude_host;
};

// The events of every cell: software ones (always there on Linux), and
// cycles and instructions split into what ran as the guest and as QEMU
// itself (needs a PMU that the host exposes; not in most VMs).
constexpr EventSpec kEvents[] = {
    {"task_clock_ns", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_TASK_CLOCK, false, false},
    {"context_switches", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CONTEXT_SWITCHES, false, false},
    {"page_faults", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS, false, false},
    {"cycles_guest", PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES, false, true},
    {"cycles_host", PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES, true, false},
    {"instructions_guest", PERF_TYPE_HARDWARE, PERF_COUNT_HW_INSTRUCTIONS, false, true},
    {"instructions_host", PERF_TYPE_HARDWARE, PERF_COUNT_HW_INSTRUCTIONS, true, false},
};

// The guest's TLB events, counted only under KVM (exclude_host: what the
// CPU did while in guest mode). Under TCG there is no guest mode: the CPU's
// TLB events would count QEMU's own accesses, so the TLB is modelled instead
// (the TCG plugin, docs/tlb-model.md).
constexpr uint64_t hw_cache(uint64_t cache, uint64_t op) {
  return cache | (op << 8) | (uint64_t{PERF_COUNT_HW_CACHE_RESULT_MISS} << 16);
}
constexpr EventSpec kGuestTlbEvents[] = {
    {"dtlb_load_misses_guest", PERF_TYPE_HW_CACHE, hw_cache(PERF_COUNT_HW_CACHE_DTLB, PERF_COUNT_HW_CACHE_OP_READ),
     false, true},
    {"dtlb_store_misses_guest", PERF_TYPE_HW_CACHE, hw_cache(PERF_COUNT_HW_CACHE_DTLB, PERF_COUNT_HW_CACHE_OP_WRITE),
     false, true},
    {"itlb_load_misses_guest", PERF_TYPE_HW_CACHE, hw_cache(PERF_COUNT_HW_CACHE_ITLB, PERF_COUNT_HW_CACHE_OP_READ),
     false, true},
};
// Page walks have no generic perf event: libpfm4 names, the first this CPU
// knows (Intel since Skylake, then AMD Zen 2/3/4).
struct WalkEvent {
  const char* name;
  std::vector<const char*> candidates;
};
const std::vector<WalkEvent>& guest_walk_events() {
  static const std::vector<WalkEvent> events = {
      {"dtlb_load_walks_guest", {"DTLB_LOAD_MISSES:WALK_COMPLETED", "L1_DTLB_MISS:TLB_RELOAD_4K_L2_MISS"}},
      {"dtlb_store_walks_guest", {"DTLB_STORE_MISSES:WALK_COMPLETED"}},
      {"itlb_walks_guest", {"ITLB_MISSES:WALK_COMPLETED", "L1_ITLB_MISS_L2_ITLB_MISS:IF4K"}},
  };
  return events;
}

constexpr const char* kTcgHasNoGuestTlb =
    "the cell runs under TCG: the CPU's TLB events would count QEMU's own accesses, not the guest's (the TLB is "
    "modelled instead: host_model)";

int perf_open(perf_event_attr* attr, pid_t pid) {
  return static_cast<int>(::syscall(SYS_perf_event_open, attr, pid, -1, -1, PERF_FLAG_FD_CLOEXEC));
}

perf_event_attr attr_for(uint32_t type, uint64_t config, bool exclude_guest, bool exclude_host, bool on_exec) {
  perf_event_attr a;
  std::memset(&a, 0, sizeof(a));
  a.size = sizeof(a);
  a.type = type;
  a.config = config;
  a.exclude_guest = exclude_guest;
  a.exclude_host = exclude_host;
  a.inherit = 1;
  a.disabled = on_exec;
  a.enable_on_exec = on_exec;
  a.read_format = PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING;
  return a;
}

std::string errno_text(const char* what, int e) { return fmt::format("{}: {} (errno {})", what, std::strerror(e), e); }

// The kvm:kvm_exit tracepoint id from tracefs, or why it cannot be had.
int kvm_exit_tracepoint(std::string* why) {
  for (const char* dir : {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}) {
    const std::string path = fmt::format("{}/events/kvm/kvm_exit/id", dir);
    if (auto id = read_file(path)) return std::stoi(trim(*id));
  }
  *why = "the kvm:kvm_exit tracepoint is not readable (no kvm module loaded, or tracefs not mounted)";
  return -1;
}

// A libpfm4 event name as a perf_event_attr (type and config), or why not.
std::optional<perf_event_attr> pfm_attr(const WalkEvent& e, std::string* why) {
#if MMLAB_HAVE_PFM
  static const int init = pfm_initialize();
  if (init != PFM_SUCCESS) {
    *why = fmt::format("libpfm4: pfm_initialize: {}", pfm_strerror(init));
    return std::nullopt;
  }
  std::vector<std::string> tried;
  for (const char* name : e.candidates) {
    perf_event_attr attr;
    std::memset(&attr, 0, sizeof(attr));
    pfm_perf_encode_arg_t arg;
    std::memset(&arg, 0, sizeof(arg));
    arg.attr = &attr;
    arg.size = sizeof(arg);
    const int r = pfm_get_os_event_encoding(name, PFM_PLM0 | PFM_PLM3, PFM_OS_PERF_EVENT_EXT, &arg);
    if (r == PFM_SUCCESS) return attr;
    tried.push_back(fmt::format("{} ({})", name, pfm_strerror(r)));
  }
  *why = fmt::format("libpfm4 knows no such event on this CPU: {}", join(tried, ", "));
  return std::nullopt;
#else
  (void)e;
  *why = "built without libpfm4 (perfmon/pfmlib_perf_event.h not found at configure time)";
  return std::nullopt;
#endif
}

bool host_is_amd() {
  const auto info = read_file("/proc/cpuinfo");
  return info && info->find("AuthenticAMD") != std::string::npos;
}

}  // namespace

const std::vector<ExitReason>& kvm_exit_reasons(bool amd) {
  static const std::vector<ExitReason> vmx = {
      {0, "EXCEPTION_NMI"},  {1, "EXTERNAL_INTERRUPT"}, {7, "INTERRUPT_WINDOW"}, {10, "CPUID"},    {12, "HLT"},
      {14, "INVLPG"},        {28, "CR_ACCESS"},         {30, "IO_INSTRUCTION"},  {31, "MSR_READ"}, {32, "MSR_WRITE"},
      {48, "EPT_VIOLATION"}, {49, "EPT_MISCONFIG"},     {52, "PREEMPTION_TIMER"}};
  static const std::vector<ExitReason> svm = {
      {0x000, "READ_CR0"},  {0x003, "READ_CR3"}, {0x010, "WRITE_CR0"}, {0x013, "WRITE_CR3"}, {0x014, "WRITE_CR4"},
      {0x040, "EXCP_BASE"}, {0x060, "INTR"},     {0x064, "VINTR"},     {0x072, "CPUID"},     {0x078, "HLT"},
      {0x079, "INVLPG"},    {0x07b, "IOIO"},     {0x07c, "MSR"},       {0x400, "NPF"}};
  return amd ? svm : vmx;
}

std::string kvm_exit_filter(uint32_t code) { return fmt::format("exit_reason == {}", code); }

HostCounters::~HostCounters() {
  for (auto* list : {&counters_, &exit_reasons_})
    for (Counter& c : *list)
      if (c.fd >= 0) ::close(c.fd);
}

void HostCounters::open(pid_t pid, bool kvm) {
  for (const EventSpec& e : kEvents) {
    perf_event_attr a = attr_for(e.type, e.config, e.exclude_guest, e.exclude_host, true);
    Counter c{.name = e.name};
    c.fd = perf_open(&a, pid);
    if (c.fd < 0) c.unavailable = errno_text("perf_event_open", errno);
    counters_.push_back(c);
  }
  for (const EventSpec& e : kGuestTlbEvents) {
    Counter c{.name = e.name};
    if (!kvm) {
      c.unavailable = kTcgHasNoGuestTlb;
    } else {
      perf_event_attr a = attr_for(e.type, e.config, e.exclude_guest, e.exclude_host, true);
      c.fd = perf_open(&a, pid);
      if (c.fd < 0) c.unavailable = errno_text("perf_event_open", errno);
    }
    counters_.push_back(c);
  }
  for (const WalkEvent& e : guest_walk_events()) {
    Counter c{.name = e.name};
    if (!kvm) {
      c.unavailable = kTcgHasNoGuestTlb;
    } else if (auto attr = pfm_attr(e, &c.unavailable)) {
      perf_event_attr a = attr_for(attr->type, attr->config, false, true, true);
      a.config1 = attr->config1;
      c.fd = perf_open(&a, pid);
      if (c.fd < 0) c.unavailable = errno_text(fmt::format("perf_event_open({})", e.candidates[0]).c_str(), errno);
    }
    counters_.push_back(c);
  }
  Counter exits{.name = "kvm_exits"};
  if (!kvm) {
    exits.unavailable = "the cell runs under TCG: there are no KVM exits";
  } else if (const int id = kvm_exit_tracepoint(&exits.unavailable); id >= 0) {
    perf_event_attr a = attr_for(PERF_TYPE_TRACEPOINT, static_cast<uint64_t>(id), false, false, true);
    exits.fd = perf_open(&a, pid);
    if (exits.fd < 0) exits.unavailable = errno_text("perf_event_open(kvm:kvm_exit)", errno);
    // By reason: one counter per reason, each a kvm_exit event with a filter
    // on its exit_reason field (counting, so inherit works; no ring buffer).
    for (const ExitReason& r : kvm_exit_reasons(host_is_amd())) {
      Counter c{.name = r.name};
      c.fd = perf_open(&a, pid);
      if (c.fd >= 0 && ::ioctl(c.fd, PERF_EVENT_IOC_SET_FILTER, kvm_exit_filter(r.code).c_str()) != 0) {
        c.unavailable =
            errno_text(fmt::format("PERF_EVENT_IOC_SET_FILTER({})", kvm_exit_filter(r.code)).c_str(), errno);
        ::close(c.fd);
        c.fd = -1;
      } else if (c.fd < 0) {
        c.unavailable = errno_text("perf_event_open(kvm:kvm_exit)", errno);
      }
      exit_reasons_.push_back(c);
    }
  }
  if (exits.fd < 0) exit_reasons_unavailable_ = exits.unavailable;
  counters_.push_back(exits);
}

json HostCounters::read() const {
  auto read_one = [](const Counter& c) -> json {
    if (c.fd < 0) return {{"unavailable", c.unavailable}};
    uint64_t v[3] = {};  // value, time enabled, time running
    if (::read(c.fd, v, sizeof(v)) != static_cast<ssize_t>(sizeof(v)))
      return {{"unavailable", errno_text("read", errno)}};
    if (!v[1]) return {{"unavailable", "the counter never ran (QEMU did not exec?)"}};
    json entry = {{"value", v[0]}};
    // Multiplexed: the kernel ran the counter part of the time; scale as perf stat does.
    if (v[2] && v[2] < v[1]) {
      entry["value"] = static_cast<uint64_t>(static_cast<double>(v[0]) * static_cast<double>(v[1]) / v[2]);
      entry["scaled_from"] = v[0];
    }
    return entry;
  };
  json out = json::object();
  for (const Counter& c : counters_) out[c.name] = read_one(c);
  if (!exit_reasons_unavailable_.empty()) {
    out["kvm_exits_by_reason"] = {{"unavailable", exit_reasons_unavailable_}};
    return out;
  }
  json by = json::object();
  uint64_t counted = 0;
  for (const Counter& c : exit_reasons_) {
    by[c.name] = read_one(c);
    if (by[c.name].contains("value")) counted += by[c.name]["value"].get<uint64_t>();
  }
  // What no listed reason caught; when a reason could not be counted, it is in here too.
  if (out["kvm_exits"].contains("value")) {
    const uint64_t total = out["kvm_exits"]["value"];
    by["other"] = {{"value", total - std::min(counted, total)}};
  }
  out["kvm_exits_by_reason"] = by;
  return out;
}

json host_capabilities() {
  json caps = json::object();
  auto probe = [](uint32_t type, uint64_t config, bool eg, bool eh) {
    perf_event_attr a = attr_for(type, config, eg, eh, false);
    const int fd = perf_open(&a, 0);  // this process: opening is the test
    if (fd < 0) return json{{"available", false}, {"detail", errno_text("perf_event_open", errno)}};
    ::close(fd);
    return json{{"available", true}, {"detail", "perf_event_open works"}};
  };
  caps["perf_software_events"] = probe(PERF_TYPE_SOFTWARE, PERF_COUNT_SW_TASK_CLOCK, false, false);
  caps["perf_cycles_guest"] = probe(PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES, false, true);
  caps["perf_cycles_host"] = probe(PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES, true, false);
  caps["perf_instructions_guest"] = probe(PERF_TYPE_HARDWARE, PERF_COUNT_HW_INSTRUCTIONS, false, true);
  caps["perf_dtlb_misses_guest"] =
      probe(PERF_TYPE_HW_CACHE, hw_cache(PERF_COUNT_HW_CACHE_DTLB, PERF_COUNT_HW_CACHE_OP_READ), false, true);
  {
    std::string why;
    const auto walk = pfm_attr(guest_walk_events()[0], &why);
    caps["page_walk_events"] =
        walk ? json{{"available", true}, {"detail", "libpfm4 encodes the data page-walk event for this CPU"}}
             : json{{"available", false}, {"detail", why}};
    if (walk) {
      caps["page_walk_events"] = probe(walk->type, walk->config, false, true);
      if (!caps["page_walk_events"]["available"].get<bool>())
        caps["page_walk_events"]["detail"] =
            fmt::format("libpfm4 knows the event, but {}", caps["page_walk_events"]["detail"].get<std::string>());
    }
  }
  std::string why;
  if (const int id = kvm_exit_tracepoint(&why); id >= 0)
    caps["kvm_exit_tracepoint"] = {{"available", true}, {"detail", fmt::format("kvm:kvm_exit has id {}", id)}};
  else
    caps["kvm_exit_tracepoint"] = {{"available", false}, {"detail", why}};
#if MMLAB_HAVE_PAPI
  const int version = PAPI_library_init(PAPI_VER_CURRENT);
  if (version != PAPI_VER_CURRENT) {
    caps["papi"] = {{"available", false}, {"detail", fmt::format("PAPI_library_init failed ({})", version)}};
  } else {
    int counters = 0;
    std::vector<std::string> parts;
    for (int cid = 0; cid < PAPI_num_components(); ++cid) {
      const PAPI_component_info_t* info = PAPI_get_component_info(cid);
      if (!info) continue;
      if (info->disabled)
        parts.push_back(fmt::format("{} disabled: {}", info->name, info->disabled_reason));
      else
        parts.push_back(fmt::format("{}: {} counters", info->name, info->num_cntrs));
      if (!info->disabled) counters += info->num_cntrs;
    }
    // Counter slots are not counters that work: the presets the lab would
    // read must map to events this host's PMU has.
    std::vector<std::string> presets;
    bool usable = counters > 0;
    for (auto [code, name] : {std::pair{PAPI_TOT_INS, "PAPI_TOT_INS"}, {PAPI_TOT_CYC, "PAPI_TOT_CYC"}}) {
      const bool ok = PAPI_query_event(code) == PAPI_OK;
      usable &= ok;
      presets.push_back(fmt::format("{} {}", name, ok ? "available" : "not available"));
    }
    caps["papi"] = {{"available", usable},
                    {"detail", fmt::format("PAPI {}.{}.{}: {}; {} counter slots ({})", PAPI_VERSION_MAJOR(version),
                                           PAPI_VERSION_MINOR(version), PAPI_VERSION_REVISION(version),
                                           join(presets, ", "), counters, join(parts, "; "))}};
    PAPI_shutdown();
  }
#else
  caps["papi"] = {{"available", false}, {"detail", "built without PAPI (papi.h not found at configure time)"}};
#endif
  return caps;
}

}  // namespace mmlab
