// A runtime lock-order checker, lockdep in spirit (docs/kernel.md, "The
// lock-order checker").
//
// Off unless switched on (the kernel: `mmlab.lockdep=on` on its command
// line; a hosted test: enable()). When on, every SpinLock and RwLock
// acquisition reports its lock class here: each CPU keeps the stack of the
// classes it holds, and every acquisition of class N while holding class H
// records the edge H -> N in one class graph for the whole machine. Taking
// N while holding H when N -> ... -> H was recorded before is an inversion:
// two CPUs taking the two orders at once deadlock, whether or not they
// happened to this time. The checker then stops the machine through
// mm::assert_fail with a message naming the held chain, the new edge and
// the recorded path, and the chain that recorded the path's first edge.
//
// Checked before the acquisition spins, so a real deadlock is reported
// instead of hanging. A try_lock never waits, so it adds no edge into the
// class it takes (it is pushed on the held stack, and later acquisitions
// order after it). Two locks of one class held together (a parent's and a
// child's mmap_lock in dup_mm, two PTE locks in copy_page_range) add no edge:
// the order within a class is not checked. Classes are LockClass (counters.h).
//
// Cost when off: one load of a global flag per acquisition and release.
#pragma once

#include <cstdint>

#include "mm/counters.h"

namespace mm::lockdep {

// The most classes one CPU holds at once; deeper nesting is a panic.
inline constexpr uint32_t kMaxHeld = 12;

// Read on every lock operation: a plain flag, set once at boot (or by a
// test) before the locks it watches are used.
extern bool on;

// Starts checking (and forgets any graph recorded before: hosted tests
// run several machines in one process). Call with no lock held.
void enable();
void disable();

// Called by the locks when `on` (spinlock.h). before_acquire checks the new
// edges and pushes `cls`; after_trylock pushes a class taken by try_lock;
// release pops the innermost held instance of `cls`.
void before_acquire(LockClass cls);
void after_trylock(LockClass cls);
void release(LockClass cls);

// The calling CPU holds no lock: what blocking (schedule()) requires. With
// `except` (the run-queue lock, held across a context switch) one held
// lock of that class is allowed. A violation stops the machine naming the
// held classes and `what`. No-op when off.
void assert_none_held(const char* what);
void assert_only_held(LockClass except, const char* what);

// How many edges the graph holds, and whether `a -> b` is one of them
// (tests, and the kernel's `lockdep` record at shutdown).
uint32_t edges();
bool has_edge(LockClass a, LockClass b);

}  // namespace mm::lockdep
