// futex(2) and futex_time64: what glibc's threads need (pthread_join,
// mutexes, condition variables, semaphores).
//
// Operations: FUTEX_WAIT, FUTEX_WAKE, FUTEX_WAIT_BITSET, FUTEX_WAKE_BITSET,
// with FUTEX_PRIVATE_FLAG and FUTEX_CLOCK_REALTIME. The rest (requeue,
// wake_op, PI) return -ENOSYS, counted like any missing call.
//
// Keys, as Linux's get_futex_key: a word in a private mapping is (mm,
// address); a word in a shared mapping is (the page cache it maps, offset
// in it), so processes sharing memory meet on it wherever they map it, and a
// COW break in a private mapping does not move the key.
//
// Waiters sit on the list of their key's hash bucket, each bucket with its
// own lock (Linux's futex_hash_bucket): a waiter reads the word and queues
// itself under the bucket lock, and a waker dequeues and wakes under it, so
// no wake-up is lost between the two and waiters of different keys rarely
// meet. Lock order: futex_bucket_lock -> pi_lock -> rq_lock; reading the
// word may fault, so the mm core's locks nest inside the bucket lock too.
#include "kernel/futex.h"

#include "kernel/clock.h"
#include "kernel/errno.h"
#include "kernel/kstats.h"
#include "kernel/sched.h"
#include "kernel/system.h"
#include "kernel/uaccess.h"
#include "mm/filemap.h"
#include "mm/mmap.h"

namespace kern {
namespace {

constexpr uint32_t kFutexWait = 0, kFutexWake = 1, kFutexWaitBitset = 9, kFutexWakeBitset = 10;
constexpr uint32_t kFutexPrivateFlag = 128, kFutexClockRealtime = 256;

struct Key {
  const void* object;
  uint32_t offset;
};

// The key of the word at uaddr in the current mm; -EFAULT if unmapped.
int32_t futex_key(uint32_t uaddr, Key* out) {
  mm::MmStruct* mm = current->mm;
  mm::ReadGuard g(mm->mmap_lock);
  const mm::Vma* v = mm::find_vma(mm, mm::VirtAddr(uaddr));
  if (!v || !v->contains(mm::VirtAddr(uaddr))) return -EFAULT;
  if ((v->flags & mm::kVmShared) && v->file) {
    *out = Key{v->file, v->file_index(mm::VirtAddr(uaddr)) * mm::kPageSize + (uaddr & (mm::kPageSize - 1))};
  } else {
    *out = Key{mm, uaddr};
  }
  return 0;
}

constexpr uint32_t kBuckets = 64;

struct Bucket {
  mm::SpinLock lock;
  WaitList waiters MM_GUARDED(lock);
};
Bucket buckets[kBuckets];

Bucket& bucket_of(const Key& k) {
  uint32_t h = reinterpret_cast<uint32_t>(k.object) ^ (k.offset * 0x9E3779B1u);
  h ^= h >> 15;
  return buckets[(h * 0x85EBCA6Bu >> 16) % kBuckets];
}

bool waits_on(const Task& t, const Key& k) { return t.futex.object == k.object && t.futex.offset == k.offset; }

// Queues the caller on key k if the word at uaddr still holds val:
// -EAGAIN if it does not, -EFAULT if it cannot be read; 0 once queued,
// which the caller is, as kBlocked, on return.
int32_t futex_queue(Bucket& b, const Key& k, uint32_t uaddr, uint32_t val, uint32_t bitset) {
  Task* t = current;
  mm::SpinGuard g(b.lock);
  uint32_t now;
  if (copy_from_user(&now, uaddr, sizeof(now))) return -EFAULT;
  if (now != val) return -EAGAIN;
  t->futex.object = k.object;
  t->futex.offset = k.offset;
  t->futex.bitset = bitset;
  t->futex.queued.store(true, std::memory_order_relaxed);
  b.waiters.push_back(t);
  set_current_state(TaskState::kBlocked);
  return 0;
}

// Sleeps, queued on b, until woken (0), killed (-EINTR) or the deadline
// (time_ns() clock, 0: none) passes (-ETIMEDOUT). Woken wins a tie.
int32_t futex_sleep(Bucket& b, uint64_t deadline) {
  Task* t = current;
  int32_t r = 0;
  for (;;) {
    set_current_state(TaskState::kBlocked);
    if (!t->futex.queued.load(std::memory_order_seq_cst)) break;
    if (interrupted()) {
      r = -EINTR;
      break;
    }
    if (deadline) {
      const uint64_t now = time_ns();
      if (now >= deadline) {
        r = -ETIMEDOUT;
        break;
      }
      const uint64_t ticks = ((deadline - now) * kHz + 999999999ull) / 1000000000ull;
      timer_arm(t, jiffies + (ticks ? ticks : 1));
    }
    schedule();
  }
  set_current_state(TaskState::kRunnable);
  if (deadline) timer_disarm(t);
  mm::SpinGuard g(b.lock);
  if (t->futex.queued.load(std::memory_order_relaxed)) {
    b.waiters.remove(t);
    t->futex.queued.store(false, std::memory_order_relaxed);
  } else {
    r = 0;  // a waker dequeued us
  }
  return r;
}

// The timeout as an absolute time_ns() deadline; 0 when there is none.
int32_t read_deadline(uint32_t utime, bool time64, bool absolute, bool realtime, uint64_t* deadline) {
  *deadline = 0;
  if (!utime) return 0;
  int64_t sec;
  int64_t nsec;
  if (time64) {
    int64_t ts[2];
    if (copy_from_user(ts, utime, sizeof(ts))) return -EFAULT;
    sec = ts[0];
    nsec = ts[1];
  } else {
    int32_t ts[2];
    if (copy_from_user(ts, utime, sizeof(ts))) return -EFAULT;
    sec = ts[0];
    nsec = ts[1];
  }
  if (sec < 0 || nsec < 0 || nsec >= 1000000000) return -EINVAL;
  uint64_t ns = static_cast<uint64_t>(sec) * 1000000000ull + static_cast<uint64_t>(nsec);
  if (absolute) {
    const uint64_t base = realtime ? realtime_base_s * 1000000000ull : 0;
    ns = ns > base ? ns - base : 1;  // already past: time out at once (1 is before any now)
  } else {
    ns += time_ns();
  }
  *deadline = ns ? ns : 1;
  return 0;
}

}  // namespace

void futex_init_locks() {
  for (Bucket& b : buckets) b.lock.init(&sys->counters, mm::LockClass::kFutexBucket);
}

int32_t futex_wake(uint32_t uaddr, uint32_t count, uint32_t bitset) {
  Key k;
  if (const int32_t r = futex_key(uaddr, &k)) return r;
  Bucket& b = bucket_of(k);
  mm::SpinGuard g(b.lock);
  int32_t woken = 0;
  for (Task* t = b.waiters.front(); t && static_cast<uint32_t>(woken) < count;) {
    Task* next = WaitList::next(t);
    if (waits_on(*t, k) && (t->futex.bitset & bitset)) {
      b.waiters.remove(t);
      t->futex.queued.store(false, std::memory_order_seq_cst);
      try_to_wake_up(t);
      ++woken;
    }
    t = next;
  }
  return woken;
}

int32_t do_futex(uint32_t uaddr, uint32_t op, uint32_t val, uint32_t utime, uint32_t val3, bool time64) {
  (void)kFutexPrivateFlag;  // private or not, the key is chosen by the mapping (above)
  const uint32_t cmd = op & ~(kFutexPrivateFlag | kFutexClockRealtime);
  if (uaddr & 3) return -EINVAL;
  switch (cmd) {
    case kFutexWait:
    case kFutexWaitBitset: {
      const uint32_t bitset = cmd == kFutexWait ? ~0u : val3;
      if (!bitset) return -EINVAL;
      if ((op & kFutexClockRealtime) && cmd == kFutexWait) return -ENOSYS;  // as Linux
      uint64_t deadline;
      if (const int32_t r =
              read_deadline(utime, time64, cmd == kFutexWaitBitset, (op & kFutexClockRealtime) != 0, &deadline))
        return r;
      Key k;
      if (const int32_t r = futex_key(uaddr, &k)) return r;
      Bucket& b = bucket_of(k);
      if (const int32_t r = futex_queue(b, k, uaddr, val, bitset)) return r;
      return futex_sleep(b, deadline);
    }
    case kFutexWake:
      return futex_wake(uaddr, val, ~0u);
    case kFutexWakeBitset:
      if (!val3) return -EINVAL;
      return futex_wake(uaddr, val, val3);
    default:
      count_enosys(0x10000 | cmd);  // futex operations are counted apart from system calls
      return -ENOSYS;
  }
}

}  // namespace kern
