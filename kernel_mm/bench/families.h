// One registration function per benchmark family, called from main after
// mm_bench's own flags are parsed (so the flags can shape the argument sweeps).
#pragma once

#include "bench_common.h"

namespace mmbench {

void register_pgd_benchmarks(const Options& opts);         // BM_PgdAllocFree, BM_ExecLike
void register_fork_exit_benchmarks(const Options& opts);   // BM_Fork, BM_Exit
void register_fault_benchmarks(const Options& opts);       // BM_PageFaultThroughput
void register_kmap_churn_benchmarks(const Options& opts);  // BM_ForkExitKmapChurn

}  // namespace mmbench
