// The `counters` and `leak` records, and the end of the run.
#include "kernel/clock.h"
#include "kernel/console.h"
#include "kernel/klib.h"
#include "kernel/kstats.h"
#include "kernel/process.h"
#include "kernel/sched.h"
#include "kernel/system.h"
#include "mm/lockdep.h"
#include "mm/vmalloc.h"
#include "mmlab_marker.h"

namespace kern {

// The kinds of frame the allocator hands out (not free, not reserved).
constexpr mm::PageKind kAllocatedKinds[] = {mm::PageKind::kUser, mm::PageKind::kPteTable, mm::PageKind::kPmdTable,
                                            mm::PageKind::kPgd,  mm::PageKind::kKernel,   mm::PageKind::kPageCache};

// What the system held when PID 1 started: the leak check's baseline.
struct Baseline {
  uint32_t in_use[mm::kNumPageKinds];
  uint64_t kernel_pte_tables;
};
Baseline baseline;

void take_baseline() {
  for (uint32_t k = 0; k < mm::kNumPageKinds; ++k) baseline.in_use[k] = sys->pages.in_use(static_cast<mm::PageKind>(k));
  baseline.kernel_pte_tables = sys->counters.get(mm::Counter::kKernelPteTable);
}

// The window marker (workloads/include/mmlab_marker.h): the host's TLB-model
// plugin writes a checkpoint of its counts when it executes, and pairs the
// k-th checkpoint with the k-th counters record. One copy in the image (a
// test counts them): never inlined or cloned.
[[gnu::noinline, gnu::noclone]] void window_marker() { MMLAB_MARKER(); }

void emit_counters_record(const char* label) {
  Record r("counters");
  r.str("label", label);
  r.num("pid", static_cast<uint32_t>(current->pid));
  // Cycles since boot_tsc (calibration end), not raw TSC values: under
  // -icount the raw TSC carries an offset that differs run to run.
  r.num("tsc_since_boot", x86::rdtsc() - boot_tsc);
  r.num("jiffies", jiffies);
  // The marker and the snapshot together: this CPU counts nothing between
  // them (interrupts are off in the kernel, and reading counters runs no
  // cross-CPU call).
  window_marker();
  const mm::CounterSnapshot s = sys->counters.snapshot();
  r.begin("mm");
  char name[64];
  for (uint32_t i = 0; i < mm::kNumCounters; ++i) r.num(mm::counter_name(i, name, sizeof(name)), s.v[i]);
  r.end();
  // The counts kept per CPU (work done without kernel_lock), summed.
  const uint32_t ncpus = arch::num_cpus();
  uint64_t syscalls = 0, user_faults = 0, uaccess_faults = 0, init_oom_retries = 0;
  for (uint32_t i = 0; i < ncpus; ++i) {
    syscalls += cpus[i].syscalls;
    user_faults += cpus[i].user_faults;
    uaccess_faults += cpus[i].uaccess_faults;
    init_oom_retries += cpus[i].init_oom_retries;
  }
  r.begin("kernel");
  r.num("syscalls", syscalls);
  r.num("context_switches", kstats.context_switches);
  r.num("forks", kstats.forks);
  r.num("threads", kstats.threads);
  r.num("execs", kstats.execs);
  r.num("exits", kstats.exits);
  r.num("signals_fatal", kstats.segfaults);
  r.num("user_faults", user_faults);
  r.num("kernel_uaccess_faults", uaccess_faults);
  r.num("timer_ticks", kstats.timer_ticks);
  r.num("init_oom_retries", init_oom_retries);
  r.num("kmap_churns", kstats.kmap_churns);
  r.num("kernel_sync_missed", kstats.kernel_sync_missed);
  r.end();
  // Where the work ran: per CPU, ticks that found a task running, switches
  // into a task, and ring-3 page faults.
  r.begin("cpus");
  for (uint32_t i = 0; i < ncpus; ++i) {
    format(name, sizeof(name), "%u", i);
    r.begin(name);
    r.num("busy_ticks", cpus[i].busy_ticks);
    r.num("switches", cpus[i].switches);
    r.num("user_faults", cpus[i].user_faults);
    r.end();
  }
  r.end();
  r.begin("frames");
  r.num("free", sys->pages.nr_free());
  for (mm::PageKind k : kAllocatedKinds) r.num(mm::page_kind_name(k), sys->pages.in_use(k));
  r.end();
  r.begin("enosys");
  for (uint32_t i = 0; i < KernelStats::kEnosysSlots && kstats.enosys_count[i]; ++i) {
    format(name, sizeof(name), "%u", kstats.enosys_nr[i]);
    r.num(name, kstats.enosys_count[i]);
  }
  if (kstats.enosys_other) r.num("other", kstats.enosys_other);
  r.end();
  r.emit();
}

// With the lock-order checker on: every order it recorded, as
// {"order": {"proctree_lock": {"siglock": 1, ...}, ...}} (the boot tests
// hold it against the order docs/kernel.md writes down).
void emit_lockdep_record() {
  if (!mm::lockdep::on) return;
  Record r("lockdep");
  r.num("edges", mm::lockdep::edges());
  r.begin("order");
  for (uint32_t a = 0; a < mm::kNumLockClasses; ++a) {
    bool any = false;
    for (uint32_t b = 0; b < mm::kNumLockClasses; ++b) {
      if (!mm::lockdep::has_edge(static_cast<mm::LockClass>(a), static_cast<mm::LockClass>(b))) continue;
      if (!any) r.begin(mm::lock_class_name(static_cast<mm::LockClass>(a)));
      any = true;
      r.num(mm::lock_class_name(static_cast<mm::LockClass>(b)), 1);
    }
    if (any) r.end();
  }
  r.end();
  r.emit();
}

void shutdown(int32_t init_status) {
  stop_other_cpus();
  const uint32_t killed = reap_all();
  emit_counters_record("shutdown");
  emit_lockdep_record();
  // With every process gone, emptying the page caches frees every cached
  // page: one still held is a reference someone forgot to drop.
  fs_drop_caches();
  const mm::CounterSnapshot c = sys->counters.snapshot();
  Record r("leak");
  r.snum("init_status", init_status);
  r.num("killed_at_shutdown", killed);
  uint64_t leaked = 0;
  r.begin("frames");
  for (mm::PageKind k : kAllocatedKinds) {
    int64_t extra = static_cast<int64_t>(sys->pages.in_use(k)) - baseline.in_use[static_cast<uint32_t>(k)];
    // Kernel PTE tables of the vmalloc area stay for good (as in Linux).
    if (k == mm::PageKind::kKernel)
      extra -= static_cast<int64_t>(c[mm::Counter::kKernelPteTable] - baseline.kernel_pte_tables);
    r.snum(mm::page_kind_name(k), extra);
    leaked += extra != 0;
  }
  r.end();
  const uint64_t pgds = c[mm::Counter::kPgdAlloc] - c[mm::Counter::kPgdFree];
  const uint64_t ptls = c[mm::Counter::kPtlCtor] - c[mm::Counter::kPtlDtor];
  const uint64_t ptl_dyn = c[mm::Counter::kPtlDynAlloc] - c[mm::Counter::kPtlDynFree];
  r.num("pgds", pgds);
  r.num("ptls", ptls);
  r.num("ptls_dynamic", ptl_dyn);
  r.num("ptl_freed_live", c[mm::Counter::kPtlLeak]);
  r.begin("objects");
  r.num("mm", sys->mm_cache.live_objects());
  r.num("vma", sys->vma_cache.live_objects());
  r.num("ptl", sys->ptl_cache.live_objects());
  r.num("pgd", sys->pgd_cache.live_objects());
  r.num("shmem", sys->shmem_cache.live_objects());
  r.end();
  uint32_t on_pgd_list = 0, on_task_list = 0;
  {
    mm::SpinGuard g(sys->pgd_lock);
    on_pgd_list = sys->pgd_list.size();
  }
  {
    mm::ReadGuard g(sys->tasklist_lock);
    on_task_list = sys->tasks.size();
  }
  r.num("pgd_list", on_pgd_list);
  r.num("task_list", on_task_list);
  r.num("kernel_sync_missed", kstats.kernel_sync_missed);
  leaked += pgds + ptls + ptl_dyn + c[mm::Counter::kPtlLeak] + sys->mm_cache.live_objects() +
            sys->vma_cache.live_objects() + sys->ptl_cache.live_objects() + sys->pgd_cache.live_objects() +
            sys->shmem_cache.live_objects() + on_pgd_list + on_task_list + kstats.kernel_sync_missed;
  const bool ok = leaked == 0 && init_status == 0;
  r.boolean("leak_free", leaked == 0);
  r.boolean("ok", ok);
  r.emit();
  kprintf("mmlab: init exited with status 0x%x; %s; %s\n", init_status,
          leaked ? "LEAKS (see the leak record)" : "no leaks", ok ? "success" : "failure");
  machine_exit(ok ? kExitSuccess : kExitFailure);
}

}  // namespace kern
