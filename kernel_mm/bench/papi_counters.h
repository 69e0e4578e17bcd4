// Host hardware counters (PAPI) around the measured part of a benchmark.
//
// PAPI_TOT_INS, PAPI_TOT_CYC and PAPI_TLB_DM are attached where the host
// counts them. Where it does not (a VM without a virtual PMU, a kernel that
// forbids perf_event, no PAPI at build time), papi_setup() records
// "unavailable: <PAPI's reason>" in the JSON context and no counter is ever
// emitted: an unavailable counter is never reported as zero.
#pragma once

#include <benchmark/benchmark.h>

#include <string>

namespace mmbench {

// Once, from main, before any benchmark runs: initializes PAPI, builds the
// event set, probes perf_event for hardware events, and records in the
// benchmark context what is available and, for what is not, why.
void papi_setup();
void papi_teardown();
bool papi_available();

// Counts on the calling thread (the benchmark's main thread) between
// resume() and pause(); construction starts the event set paused,
// destruction stops it. Not reentrant: one region at a time.
class PapiRegion {
 public:
  PapiRegion();
  ~PapiRegion();
  PapiRegion(const PapiRegion&) = delete;
  PapiRegion& operator=(const PapiRegion&) = delete;

  void resume();
  void pause();
  // Sets "papi_<event>_per_<suffix>" (e.g. papi_tot_ins_per_fork) for every
  // available event; sets nothing when PAPI is unavailable.
  void report(benchmark::State& state, const std::string& suffix, double ops) const;

 private:
  bool running_ = false;
  long long totals_[3] = {};
};

}  // namespace mmbench
