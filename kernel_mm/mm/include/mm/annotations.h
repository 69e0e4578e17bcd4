// Clang thread-safety annotations and the runtime assertions that back them.
//
// `make tsa` compiles the hosted mm core, and the kernel with its x86 arch
// code, with clang -Wthread-safety -Werror, so a field marked
// MM_GUARDED(lock_) touched without lock_ held fails the build. GCC ignores
// the attributes; the runtime assertion at the top of the page-table
// helpers (lock.debug_assert_held(), which tells the analysis the lock is
// held and checks held_by_me() at run time) catches the same mistake in
// the tests and in a debug kernel.
#pragma once

#if defined(__clang__)
#define MM_TA(x) __attribute__((x))
#else
#define MM_TA(x)
#endif

#define MM_CAPABILITY(name) MM_TA(capability(name))
#define MM_SCOPED_CAPABILITY MM_TA(scoped_lockable)
#define MM_GUARDED(lock) MM_TA(guarded_by(lock))
#define MM_PT_GUARDED(lock) MM_TA(pt_guarded_by(lock))
#define MM_REQ(...) MM_TA(requires_capability(__VA_ARGS__))
#define MM_REQ_SHARED(...) MM_TA(requires_shared_capability(__VA_ARGS__))
#define MM_EXCL(...) MM_TA(locks_excluded(__VA_ARGS__))
#define MM_ACQUIRE(...) MM_TA(acquire_capability(__VA_ARGS__))
#define MM_ACQUIRE_SHARED(...) MM_TA(acquire_shared_capability(__VA_ARGS__))
#define MM_RELEASE(...) MM_TA(release_capability(__VA_ARGS__))
#define MM_RELEASE_SHARED(...) MM_TA(release_shared_capability(__VA_ARGS__))
#define MM_TRY_ACQUIRE(...) MM_TA(try_acquire_capability(__VA_ARGS__))
#define MM_RET_CAP(x) MM_TA(lock_returned(x))
#define MM_ASSERT_CAP(x) MM_TA(assert_capability(x))
// For the few functions whose lock is chosen at run time (the split ptl of a
// table page); each carries a runtime held-by-me assertion instead.
#define MM_NO_TSA MM_TA(no_thread_safety_analysis)

namespace mm {
// Provided by the arch layer: prints the message and stops the machine
// (kernel: panic record + isa-debug-exit; sim: abort with the message).
[[noreturn]] void assert_fail(const char* expr, const char* file, int line);
}  // namespace mm

#define MM_ASSERT(cond)                                                             \
  do {                                                                              \
    if (__builtin_expect(!(cond), 0)) ::mm::assert_fail(#cond, __FILE__, __LINE__); \
  } while (0)

// MM_ASSERT where MM_DEBUG_LOCKS is defined: the tests' build of the core
// (mm_hosted_checked: every unit and TSan test) and a kernel built with
// CMAKE_BUILD_TYPE=Debug. Elsewhere (the release kernel, the benchmarks)
// the condition is compiled but never evaluated, so the lock checks at the
// top of the page-table helpers cost the fault, fork and exit paths
// nothing; the static analysis is the same in both.
#ifdef MM_DEBUG_LOCKS
#define MM_DEBUG_ASSERT(cond) MM_ASSERT(cond)
#else
#define MM_DEBUG_ASSERT(cond) static_cast<void>(sizeof(cond))
#endif
