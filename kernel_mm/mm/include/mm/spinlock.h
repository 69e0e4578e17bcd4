// Spinlocks and reader-writer spinlocks that count what they cost.
//
// Every acquisition is counted per lock class, and so is every contended one
// together with the cycles spent waiting: these are the guest counters the
// lock toggles (mm.pgd_init, mm.ptlock) are judged by. With the lock-order
// checker on (lockdep.h), every acquisition and release also reports its
// class there, before it spins.
#pragma once

#include <atomic>
#include <cstdint>

#include "mm/annotations.h"
#include "mm/arch.h"
#include "mm/counters.h"
#include "mm/lockdep.h"

namespace mm {

class MM_CAPABILITY("spinlock") SpinLock {
 public:
  constexpr SpinLock() = default;
  SpinLock(const SpinLock&) = delete;
  SpinLock& operator=(const SpinLock&) = delete;

  // Binds the lock to the counters it reports to and names its class (for
  // the counters and the lock-order checker). A lock never bound still
  // works; it is neither counted nor checked.
  void init(Counters* counters, LockClass cls) {
    counters_ = counters;
    cls_ = cls;
  }

  void lock() MM_ACQUIRE() {
    lock_waiting([] {});
  }

  // lock(), calling `wait()` at every spin step (the kernel's big lock
  // parks a CPU that is asked to stop while it waits for the lock).
  template <typename Wait>
  void lock_waiting(Wait&& wait) MM_ACQUIRE() {
    if (lockdep::on) lockdep::before_acquire(cls_);
    const uint32_t me = arch::this_cpu() + 1;
    uint32_t expected = 0;
    if (!word_.compare_exchange_strong(expected, me, std::memory_order_acquire, std::memory_order_relaxed)) {
      MM_ASSERT(expected != me);  // recursive acquisition: a self-deadlock
      const uint64_t t0 = arch::cycles();
      do {
        while (word_.load(std::memory_order_relaxed) != 0) {
          arch::cpu_relax();
          wait();
        }
        expected = 0;
      } while (!word_.compare_exchange_weak(expected, me, std::memory_order_acquire, std::memory_order_relaxed));
      count(LockStat::kContended, 1);
      count(LockStat::kWaitCycles, arch::cycles() - t0);
    }
    count(LockStat::kAcquire, 1);
  }

  // Takes the lock if it is free; never waits.
  bool try_lock() MM_TRY_ACQUIRE(true) {
    uint32_t expected = 0;
    if (!word_.compare_exchange_strong(expected, arch::this_cpu() + 1, std::memory_order_acquire,
                                       std::memory_order_relaxed))
      return false;
    if (lockdep::on) lockdep::after_trylock(cls_);
    count(LockStat::kAcquire, 1);
    return true;
  }

  void unlock() MM_RELEASE() {
    MM_ASSERT(held_by_me());
    if (lockdep::on) lockdep::release(cls_);
    word_.store(0, std::memory_order_release);
  }

  // True when this CPU holds the lock: the runtime backing of MM_REQ.
  bool held_by_me() const { return word_.load(std::memory_order_relaxed) == arch::this_cpu() + 1; }
  bool is_locked() const { return word_.load(std::memory_order_relaxed) != 0; }
  void assert_held() const MM_ASSERT_CAP(this) { MM_ASSERT(held_by_me()); }
  // The same for the analysis; checked at run time under MM_DEBUG_LOCKS.
  void debug_assert_held() const MM_ASSERT_CAP(this) { MM_DEBUG_ASSERT(held_by_me()); }

 private:
  void count(LockStat s, uint64_t n) {
    if (counters_) counters_->add_lock(cls_, s, n);
  }
  // 0: free; otherwise the owning CPU + 1.
  std::atomic<uint32_t> word_{0};
  Counters* counters_ = nullptr;
  LockClass cls_ = LockClass::kCount;  // none until init
};

// Readers share, a writer excludes everyone. A waiting writer stops new
// readers from entering, so a stream of page faults cannot starve munmap.
class MM_CAPABILITY("rwlock") RwLock {
 public:
  constexpr RwLock() = default;
  RwLock(const RwLock&) = delete;
  RwLock& operator=(const RwLock&) = delete;

  void init(Counters* counters, LockClass cls) {
    counters_ = counters;
    cls_ = cls;
  }

  void lock_shared() MM_ACQUIRE_SHARED() {
    if (lockdep::on) lockdep::before_acquire(cls_);
    uint32_t s = state_.load(std::memory_order_relaxed);
    bool contended = false;
    uint64_t t0 = 0;
    for (;;) {
      if ((s & (kWriter | kWriterWaiting)) == 0 &&
          state_.compare_exchange_weak(s, s + 1, std::memory_order_acquire, std::memory_order_relaxed))
        break;
      if (!contended) {
        contended = true;
        t0 = arch::cycles();
      }
      arch::cpu_relax();
      s = state_.load(std::memory_order_relaxed);
    }
    account(contended, t0);
  }

  void unlock_shared() MM_RELEASE_SHARED() {
    if (lockdep::on) lockdep::release(cls_);
    state_.fetch_sub(1, std::memory_order_release);
  }

  void lock() MM_ACQUIRE() {
    if (lockdep::on) lockdep::before_acquire(cls_);
    uint32_t s = 0;
    if (!state_.compare_exchange_strong(s, kWriter, std::memory_order_acquire, std::memory_order_relaxed)) {
      const uint64_t t0 = arch::cycles();
      for (;;) {
        s = state_.load(std::memory_order_relaxed);
        if ((s & ~kWriterWaiting) == 0) {
          if (state_.compare_exchange_weak(s, kWriter, std::memory_order_acquire, std::memory_order_relaxed)) break;
          continue;
        }
        if (!(s & kWriterWaiting)) state_.fetch_or(kWriterWaiting, std::memory_order_relaxed);
        arch::cpu_relax();
      }
      account(true, t0);
    } else {
      account(false, 0);
    }
    writer_cpu_ = arch::this_cpu() + 1;
  }

  void unlock() MM_RELEASE() {
    MM_ASSERT(held_exclusive_by_me());
    if (lockdep::on) lockdep::release(cls_);
    writer_cpu_ = 0;
    // A waiting writer re-sets kWriterWaiting on its next spin.
    state_.store(0, std::memory_order_release);
  }

  bool held_exclusive_by_me() const {
    return (state_.load(std::memory_order_relaxed) & kWriter) && writer_cpu_ == arch::this_cpu() + 1;
  }
  bool is_locked() const { return (state_.load(std::memory_order_relaxed) & ~kWriterWaiting) != 0; }
  void assert_held() const MM_ASSERT_CAP(this) { MM_ASSERT(held_exclusive_by_me()); }
  void assert_held_shared() const MM_TA(assert_shared_capability(this)) { MM_ASSERT(is_locked()); }
  // The same for the analysis; checked at run time under MM_DEBUG_LOCKS.
  void debug_assert_held() const MM_ASSERT_CAP(this) { MM_DEBUG_ASSERT(held_exclusive_by_me()); }
  void debug_assert_held_shared() const MM_TA(assert_shared_capability(this)) { MM_DEBUG_ASSERT(is_locked()); }

 private:
  static constexpr uint32_t kWriter = 1u << 31;
  static constexpr uint32_t kWriterWaiting = 1u << 30;

  void account(bool contended, uint64_t t0) {
    if (!counters_) return;
    counters_->add_lock(cls_, LockStat::kAcquire, 1);
    if (contended) {
      counters_->add_lock(cls_, LockStat::kContended, 1);
      counters_->add_lock(cls_, LockStat::kWaitCycles, arch::cycles() - t0);
    }
  }

  std::atomic<uint32_t> state_{0};  // reader count | kWriterWaiting | kWriter
  uint32_t writer_cpu_ = 0;         // debug: the writing CPU + 1, written only by the writer
  Counters* counters_ = nullptr;
  LockClass cls_ = LockClass::kCount;  // none until init
};

class MM_SCOPED_CAPABILITY SpinGuard {
 public:
  explicit SpinGuard(SpinLock& l) MM_ACQUIRE(l) : l_(l) { l_.lock(); }
  ~SpinGuard() MM_RELEASE() { l_.unlock(); }
  SpinGuard(const SpinGuard&) = delete;
  SpinGuard& operator=(const SpinGuard&) = delete;

 private:
  SpinLock& l_;
};

class MM_SCOPED_CAPABILITY WriteGuard {
 public:
  explicit WriteGuard(RwLock& l) MM_ACQUIRE(l) : l_(l) { l_.lock(); }
  ~WriteGuard() MM_RELEASE() { l_.unlock(); }
  WriteGuard(const WriteGuard&) = delete;
  WriteGuard& operator=(const WriteGuard&) = delete;

 private:
  RwLock& l_;
};

class MM_SCOPED_CAPABILITY ReadGuard {
 public:
  explicit ReadGuard(RwLock& l) MM_ACQUIRE_SHARED(l) : l_(l) { l_.lock_shared(); }
  ~ReadGuard() MM_RELEASE() { l_.unlock_shared(); }
  ReadGuard(const ReadGuard&) = delete;
  ReadGuard& operator=(const ReadGuard&) = delete;

 private:
  RwLock& l_;
};

}  // namespace mm
