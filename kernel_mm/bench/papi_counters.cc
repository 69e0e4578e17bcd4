#include "papi_counters.h"

#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>

#ifdef MMLAB_HAVE_PAPI
#include <papi.h>
#endif

namespace mmbench {
namespace {

// Events in the event set (0 when PAPI is unavailable).
int g_nr_added = 0;

// perf_event_open of one hardware event on this thread: "available", or
// the errno the kernel gave. PAPI sits on perf_event; this says why PAPI
// found nothing in terms a kernel engineer can check.
std::string probe_perf_hw() {
  perf_event_attr attr;
  std::memset(&attr, 0, sizeof(attr));
  attr.size = sizeof(attr);
  attr.type = PERF_TYPE_HARDWARE;
  attr.config = PERF_COUNT_HW_INSTRUCTIONS;
  attr.disabled = 1;
  attr.exclude_kernel = 1;
  attr.exclude_hv = 1;
  const long fd = syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0);
  if (fd < 0) {
    const int err = errno;
    return std::string("unavailable: perf_event_open(PERF_TYPE_HARDWARE, PERF_COUNT_HW_INSTRUCTIONS): ") +
           std::strerror(err) + " (errno " + std::to_string(err) + ")";
  }
  close(static_cast<int>(fd));
  return "available";
}

}  // namespace

bool papi_available() { return g_nr_added > 0; }

#ifdef MMLAB_HAVE_PAPI

namespace {

constexpr const char* kEvents[] = {"PAPI_TOT_INS", "PAPI_TOT_CYC", "PAPI_TLB_DM"};
constexpr int kNumEvents = 3;
static_assert(kNumEvents <= 3, "PapiRegion::totals_ holds three");

// The one event set (created on the main thread, which runs every
// benchmark), and each of kEvents' slot in it (-1: not added).
int g_event_set = -1;
int g_slot_of[kNumEvents] = {-1, -1, -1};

std::string lower(const char* s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

void papi_setup() {
  benchmark::AddCustomContext("perf_event_hw", probe_perf_hw());
  benchmark::AddCustomContext("papi_scope",
                              "the benchmark's main thread, over the timed operations only; worker threads "
                              "(BM_PageFaultThroughput faulters, BM_ForkExitKmapChurn kmap threads) are not counted");
  const int ver = PAPI_library_init(PAPI_VER_CURRENT);
  if (ver != PAPI_VER_CURRENT) {
    const std::string why = ver > 0 ? "PAPI_library_init: header/library version mismatch"
                                    : std::string("PAPI_library_init: ") + PAPI_strerror(ver);
    benchmark::AddCustomContext("papi", "unavailable: " + why);
    return;
  }
  // Component 0 is the CPU counter component (perf_event on Linux).
  std::string component;
  if (const PAPI_component_info_t* ci = PAPI_get_component_info(0)) {
    component = std::string("component ") + ci->name + ": num_cntrs=" + std::to_string(ci->num_cntrs);
    if (ci->disabled) component += std::string(", disabled: ") + ci->disabled_reason;
  }
  if (int r = PAPI_create_eventset(&g_event_set); r != PAPI_OK) {
    benchmark::AddCustomContext("papi", std::string("unavailable: PAPI_create_eventset: ") + PAPI_strerror(r) +
                                            (component.empty() ? "" : "; " + component));
    return;
  }
  std::string missing;
  for (int i = 0; i < kNumEvents; ++i) {
    const int r = PAPI_add_named_event(g_event_set, kEvents[i]);
    if (r == PAPI_OK) {
      g_slot_of[i] = g_nr_added++;
      continue;
    }
    if (!missing.empty()) missing += "; ";
    missing += std::string(kEvents[i]) + ": " + PAPI_strerror(r);
  }
  if (g_nr_added == 0) {
    benchmark::AddCustomContext("papi", "unavailable: " + component + "; PAPI_add_named_event: " + missing);
    PAPI_destroy_eventset(&g_event_set);
    g_event_set = -1;
    return;
  }
  std::string have;
  for (int i = 0; i < kNumEvents; ++i)
    if (g_slot_of[i] >= 0) have += (have.empty() ? "" : " ") + std::string(kEvents[i]);
  benchmark::AddCustomContext("papi", "available: " + have + (missing.empty() ? "" : "; unavailable: " + missing));
}

void papi_teardown() {
  if (g_event_set >= 0) {
    PAPI_cleanup_eventset(g_event_set);
    PAPI_destroy_eventset(&g_event_set);
  }
  PAPI_shutdown();
}

PapiRegion::PapiRegion() {
  if (!papi_available()) return;
  running_ = PAPI_start(g_event_set) == PAPI_OK;
}

PapiRegion::~PapiRegion() {
  if (!running_) return;
  long long discard[kNumEvents];
  PAPI_stop(g_event_set, discard);
}

// PAPI_accum adds the counts since the last reset to totals_ and resets, so
// resume() resets (dropping what ran while paused) and pause() accumulates.
void PapiRegion::resume() {
  if (running_) PAPI_reset(g_event_set);
}

void PapiRegion::pause() {
  if (running_) PAPI_accum(g_event_set, totals_);
}

void PapiRegion::report(benchmark::State& state, const std::string& suffix, double ops) const {
  if (!running_ || ops <= 0) return;
  for (int i = 0; i < kNumEvents; ++i) {
    if (g_slot_of[i] < 0) continue;
    const std::string name = lower(kEvents[i]);  // papi_tot_ins
    state.counters[name + "_per_" + suffix] = static_cast<double>(totals_[g_slot_of[i]]) / ops;
  }
}

#else  // !MMLAB_HAVE_PAPI

void papi_setup() {
  benchmark::AddCustomContext("perf_event_hw", probe_perf_hw());
  benchmark::AddCustomContext("papi", "unavailable: mm_bench was built without PAPI (papi.h or libpapi not found)");
}
void papi_teardown() {}
PapiRegion::PapiRegion() {}
PapiRegion::~PapiRegion() {}
void PapiRegion::resume() {}
void PapiRegion::pause() {}
void PapiRegion::report(benchmark::State&, const std::string&, double) const {}

#endif

}  // namespace mmbench
