// Clocks and sleeps: time, gettimeofday, clock_gettime/getres/nanosleep
// (time32 and time64), nanosleep. Every clock reads the TSC (clock.h);
// the realtime ones add the wall-clock time at boot.
#include "kernel/clock.h"
#include "kernel/errno.h"
#include "kernel/percpu.h"
#include "kernel/sched.h"
#include "kernel/syscall.h"
#include "kernel/uaccess.h"

namespace kern {
namespace {

// A struct timespec (time32: two longs) or __kernel_timespec (time64: two
// 64-bit fields) at uts.
int32_t put_timespec(uint32_t uts, uint64_t sec, uint64_t nsec, bool time64) {
  if (time64) {
    const uint64_t ts[2] = {sec, nsec};
    return copy_to_user(uts, ts, sizeof(ts));
  }
  const uint32_t ts[2] = {static_cast<uint32_t>(sec), static_cast<uint32_t>(nsec)};
  return copy_to_user(uts, ts, sizeof(ts));
}

int32_t do_clock_gettime(uint32_t clock, uint32_t uts, bool time64) {
  if (clock > 11) return -EINVAL;
  uint64_t ns = time_ns();
  if (clock == 0 || clock == 5 || clock == 8 || clock == 11) ns += realtime_base_s * 1000000000ull;  // REALTIME*, TAI
  return put_timespec(uts, ns / 1000000000ull, ns % 1000000000ull, time64);
}

int32_t do_clock_getres(uint32_t clock, uint32_t uts, bool time64) {
  if (clock > 11) return -EINVAL;
  if (!uts) return 0;
  return put_timespec(uts, 0, 1, time64);
}

// Sleeps at least `ns` by the TSC clock (the one clock_gettime reads), in
// timer ticks: on the sleepers' list until the tick comes (sched.h).
int32_t sleep_ns(uint64_t ns) {
  Task* t = current;
  const uint64_t deadline = time_ns() + ns;
  for (uint64_t now = time_ns(); now < deadline; now = time_ns()) {
    const uint64_t ticks = ((deadline - now) * kHz + 999999999ull) / 1000000000ull;
    timer_arm(t, jiffies + (ticks ? ticks : 1));
    for (;;) {
      set_current_state(TaskState::kBlocked);
      if (!timer_armed(t)) break;
      if (interrupted()) {
        set_current_state(TaskState::kRunnable);
        timer_disarm(t);
        return -EINTR;
      }
      schedule();
    }
    set_current_state(TaskState::kRunnable);
  }
  return 0;
}

int32_t do_nanosleep(uint32_t ureq, bool time64) {
  uint64_t sec, nsec;
  if (time64) {
    int64_t ts[2];
    if (copy_from_user(ts, ureq, sizeof(ts))) return -EFAULT;
    if (ts[0] < 0 || ts[1] < 0 || ts[1] >= 1000000000) return -EINVAL;
    sec = static_cast<uint64_t>(ts[0]), nsec = static_cast<uint64_t>(ts[1]);
  } else {
    int32_t ts[2];
    if (copy_from_user(ts, ureq, sizeof(ts))) return -EFAULT;
    if (ts[0] < 0 || ts[1] < 0 || ts[1] >= 1000000000) return -EINVAL;
    sec = static_cast<uint64_t>(ts[0]), nsec = static_cast<uint64_t>(ts[1]);
  }
  return sleep_ns(sec * 1000000000ull + nsec);
}

// clock_nanosleep(clock, flags, request, remain): relative sleeps only.
int32_t do_clock_nanosleep(uint32_t flags, uint32_t ureq, bool time64) {
  if (flags & 1) return -EINVAL;  // TIMER_ABSTIME: not yet
  return do_nanosleep(ureq, time64);
}

}  // namespace

int32_t sys_time(SyscallArgs r) {
  const uint32_t now = static_cast<uint32_t>(realtime_base_s + time_ns() / 1000000000ull);
  if (r.a() && copy_to_user(r.a(), &now, 4)) return -EFAULT;
  return static_cast<int32_t>(now);
}

int32_t sys_gettimeofday(SyscallArgs r) {
  if (r.a()) {
    const uint64_t ns = time_ns();
    const uint32_t tv[2] = {static_cast<uint32_t>(realtime_base_s + ns / 1000000000ull),
                            static_cast<uint32_t>(ns % 1000000000ull / 1000)};
    if (copy_to_user(r.a(), tv, sizeof(tv))) return -EFAULT;
  }
  if (r.b() && clear_user(r.b(), 8)) return -EFAULT;
  return 0;
}

int32_t sys_clock_gettime(SyscallArgs r) { return do_clock_gettime(r.a(), r.b(), false); }
int32_t sys_clock_gettime64(SyscallArgs r) { return do_clock_gettime(r.a(), r.b(), true); }
int32_t sys_clock_getres(SyscallArgs r) { return do_clock_getres(r.a(), r.b(), false); }
int32_t sys_clock_getres_time64(SyscallArgs r) { return do_clock_getres(r.a(), r.b(), true); }
int32_t sys_nanosleep(SyscallArgs r) { return do_nanosleep(r.a(), false); }
int32_t sys_clock_nanosleep(SyscallArgs r) { return do_clock_nanosleep(r.b(), r.c(), false); }
int32_t sys_clock_nanosleep_time64(SyscallArgs r) { return do_clock_nanosleep(r.b(), r.c(), true); }

}  // namespace kern
