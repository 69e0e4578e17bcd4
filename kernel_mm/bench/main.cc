// mm_bench: Google Benchmark microbenchmarks of the hosted mm core.
//
// Besides Google Benchmark's own flags (--benchmark_filter, --benchmark_out,
// ...), mm_bench takes:
//   --mm_max_threads=N       BM_PageFaultThroughput threads: 1, 2, 4, ... up to N (default 8, at most 31)
//   --mm_fault_pages=N       pages each faulting thread touches per batch (default 2048)
//   --mm_churn_forks=N       fork+exits per BM_ForkExitKmapChurn batch (default 2000)
//   --mm_churn_background=N  idle processes alive during the churn (default 64)
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "bench_common.h"
#include "families.h"
#include "papi_counters.h"

namespace {

// Consumes "--name=value" for a uint32 option; false when `arg` is not it.
bool take_flag(const char* arg, const char* name, uint32_t* out) {
  const size_t n = std::strlen(name);
  if (std::strncmp(arg, name, n) != 0 || arg[n] != '=') return false;
  char* end = nullptr;
  const unsigned long v = std::strtoul(arg + n + 1, &end, 10);
  if (end == arg + n + 1 || *end != 0 || v == 0 || v > 1000000) {
    std::fprintf(stderr, "mm_bench: bad value in %s\n", arg);
    std::exit(2);
  }
  *out = static_cast<uint32_t>(v);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  mmbench::Options opts;
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    if (i > 0 && (take_flag(argv[i], "--mm_max_threads", &opts.max_threads) ||
                  take_flag(argv[i], "--mm_fault_pages", &opts.fault_pages) ||
                  take_flag(argv[i], "--mm_churn_forks", &opts.churn_forks) ||
                  take_flag(argv[i], "--mm_churn_background", &opts.churn_background)))
      continue;
    rest.push_back(argv[i]);
  }
  int rest_argc = static_cast<int>(rest.size());
  rest.push_back(nullptr);

  benchmark::AddCustomContext("mm_target",
                              "hosted mm core on the simulated PAE MMU (kernel_mm/arch/sim): no QEMU, no guest kernel; "
                              "guest counters are the mm core's own (mm/counters.h)");
  benchmark::AddCustomContext("host_cpus", std::to_string(std::thread::hardware_concurrency()));
  benchmark::AddCustomContext("mm_options", "max_threads=" + std::to_string(opts.max_threads) +
                                                " fault_pages=" + std::to_string(opts.fault_pages) +
                                                " churn_forks=" + std::to_string(opts.churn_forks) +
                                                " churn_background=" + std::to_string(opts.churn_background));
  mmbench::papi_setup();

  mmbench::register_pgd_benchmarks(opts);
  mmbench::register_fork_exit_benchmarks(opts);
  mmbench::register_fault_benchmarks(opts);
  mmbench::register_kmap_churn_benchmarks(opts);

  benchmark::Initialize(&rest_argc, rest.data());
  if (benchmark::ReportUnrecognizedArguments(rest_argc, rest.data())) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  mmbench::papi_teardown();
  return 0;
}
