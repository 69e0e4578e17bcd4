#include "mm/lockdep.h"

#include <atomic>

#include "mm/annotations.h"
#include "mm/arch.h"

namespace mm::lockdep {

bool on = false;

namespace {

constexpr uint32_t kClasses = kNumLockClasses;
constexpr uint32_t kWords = (kClasses + 31) / 32;

// A set of classes, one bit each, read and written word by word with
// relaxed atomics (no 64-bit atomics: the kernel is i386).
struct ClassSet {
  std::atomic<uint32_t> w[kWords];
  bool has(uint32_t c) const { return (w[c / 32].load(std::memory_order_relaxed) >> (c % 32)) & 1; }
  void add(uint32_t c) { w[c / 32].fetch_or(1u << (c % 32), std::memory_order_relaxed); }
  void add_all(const ClassSet& o) {
    for (uint32_t i = 0; i < kWords; ++i)
      w[i].fetch_or(o.w[i].load(std::memory_order_relaxed), std::memory_order_relaxed);
  }
  void clear() {
    for (auto& x : w) x.store(0, std::memory_order_relaxed);
  }
};

// The classes a CPU holds, innermost last. Only that CPU touches its own.
struct Held {
  uint8_t cls[kMaxHeld];
  uint32_t depth;
};
Held held[kMaxCpus];

// Where an edge a -> b was first seen: the CPU and the chain it held (the
// last entry is `a`... or any class held when b was taken).
struct EdgeSeen {
  uint8_t chain[kMaxHeld];
  uint8_t depth;
  uint8_t cpu;
};

// The graph. direct[a] holds b when a -> b was recorded; reach[a] holds
// every class reachable from a (the transitive closure, kept up to date
// on every insertion, so the check on the acquisition path is one bit).
// Writers hold graph_lock; readers look without it and take it before
// changing anything.
ClassSet direct[kClasses];
ClassSet reach[kClasses];
EdgeSeen seen[kClasses][kClasses];
std::atomic<uint32_t> nr_edges{0};
// Not a SpinLock: the checker must not check itself.
std::atomic<bool> graph_lock{false};

void graph_lock_acquire() {
  while (graph_lock.exchange(true, std::memory_order_acquire)) arch::cpu_relax();
}
void graph_lock_release() { graph_lock.store(false, std::memory_order_release); }

// The failure message: built once, then the machine stops.
class Message {
 public:
  void add(const char* s) {
    while (*s && len_ + 1 < sizeof(buf_)) buf_[len_++] = *s++;
    buf_[len_] = 0;
  }
  void add_uint(uint32_t v) {
    char d[12];
    uint32_t n = 0;
    do {
      d[n++] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v);
    while (n) {
      const char c[2] = {d[--n], 0};
      add(c);
    }
  }
  void add_chain(const uint8_t* cls, uint32_t depth) {
    add("[");
    for (uint32_t i = 0; i < depth; ++i) {
      if (i) add(", ");
      add(lock_class_name(static_cast<LockClass>(cls[i])));
    }
    add("]");
  }
  const char* str() const { return buf_; }

 private:
  char buf_[480] = {};
  uint32_t len_ = 0;
};
Message message;

[[noreturn]] void fail() {
  on = false;  // the panic path may take locks of its own
  assert_fail(message.str(), __FILE__, __LINE__);
}

// Some shortest path from `from` to `to` in the recorded edges (BFS);
// returns its length in classes, written into path.
uint32_t find_path(uint32_t from, uint32_t to, uint8_t* path, uint32_t max) {
  uint8_t prev[kClasses];
  bool visited[kClasses] = {};
  uint8_t queue[kClasses];
  uint32_t head = 0, tail = 0;
  queue[tail++] = static_cast<uint8_t>(from);
  visited[from] = true;
  while (head < tail) {
    const uint32_t x = queue[head++];
    if (x == to) break;
    for (uint32_t y = 0; y < kClasses; ++y) {
      if (visited[y] || !direct[x].has(y)) continue;
      visited[y] = true;
      prev[y] = static_cast<uint8_t>(x);
      queue[tail++] = static_cast<uint8_t>(y);
    }
  }
  if (!visited[to]) return 0;
  uint8_t rev[kClasses];
  uint32_t n = 0;
  for (uint32_t x = to;; x = prev[x]) {
    rev[n++] = static_cast<uint8_t>(x);
    if (x == from) break;
  }
  uint32_t k = 0;
  while (n && k < max) path[k++] = rev[--n];
  return k;
}

// CPU `cpu` holding `h` (among `s`) takes `n`, and n -> ... -> h is recorded.
[[noreturn]] void report_inversion(uint32_t cpu, const Held& s, uint32_t h, uint32_t n) {
  message.add("lockdep: lock order inversion: CPU ");
  message.add_uint(cpu);
  message.add(" holds ");
  message.add_chain(s.cls, s.depth);
  message.add(" and takes ");
  message.add(lock_class_name(static_cast<LockClass>(n)));
  message.add(" (new edge ");
  message.add(lock_class_name(static_cast<LockClass>(h)));
  message.add(" -> ");
  message.add(lock_class_name(static_cast<LockClass>(n)));
  message.add("), but ");
  uint8_t path[kClasses];
  const uint32_t len = find_path(n, h, path, kClasses);
  for (uint32_t i = 0; i < len; ++i) {
    if (i) message.add(" -> ");
    message.add(lock_class_name(static_cast<LockClass>(path[i])));
  }
  message.add(" was recorded:");
  // Where each edge of that path was first seen (the first three).
  for (uint32_t i = 0; i + 1 < len && i < 3; ++i) {
    const EdgeSeen& e = seen[path[i]][path[i + 1]];
    message.add(i ? "; " : " ");
    message.add(lock_class_name(static_cast<LockClass>(path[i + 1])));
    message.add(" taken on CPU ");
    message.add_uint(e.cpu);
    message.add(" holding ");
    message.add_chain(e.chain, e.depth);
  }
  fail();
}

void add_edge(uint32_t cpu, const Held& s, uint32_t h, uint32_t n) {
  graph_lock_acquire();
  if (direct[h].has(n)) {
    graph_lock_release();
    return;
  }
  if (reach[n].has(h)) report_inversion(cpu, s, h, n);  // recorded meanwhile by another CPU
  direct[h].add(n);
  EdgeSeen& e = seen[h][n];
  for (uint32_t i = 0; i < s.depth; ++i) e.chain[i] = s.cls[i];
  e.depth = static_cast<uint8_t>(s.depth);
  e.cpu = static_cast<uint8_t>(cpu);
  // Everything that reaches h (and h itself) now reaches n and all n reaches.
  for (uint32_t x = 0; x < kClasses; ++x) {
    if (x != h && !reach[x].has(h)) continue;
    reach[x].add(n);
    reach[x].add_all(reach[n]);
  }
  nr_edges.fetch_add(1, std::memory_order_relaxed);
  graph_lock_release();
}

void push(Held& s, uint32_t cpu, uint32_t n) {
  if (s.depth == kMaxHeld) {
    message.add("lockdep: CPU ");
    message.add_uint(cpu);
    message.add(" holds more than 12 locks: ");
    message.add_chain(s.cls, s.depth);
    message.add(" and takes ");
    message.add(lock_class_name(static_cast<LockClass>(n)));
    fail();
  }
  s.cls[s.depth++] = static_cast<uint8_t>(n);
}

[[noreturn]] void report_held(const Held& s, uint32_t cpu, const char* what) {
  message.add("lockdep: CPU ");
  message.add_uint(cpu);
  message.add(" ");
  message.add(what);
  message.add(" holding ");
  message.add_chain(s.cls, s.depth);
  fail();
}

}  // namespace

void enable() {
  for (uint32_t i = 0; i < kClasses; ++i) {
    direct[i].clear();
    reach[i].clear();
  }
  for (Held& h : held) h.depth = 0;
  nr_edges.store(0, std::memory_order_relaxed);
  arch::smp_mb();
  on = true;
}

void disable() { on = false; }

void before_acquire(LockClass cls) {
  const uint32_t n = static_cast<uint32_t>(cls);
  if (n >= kClasses) return;  // a lock never bound to a class (no counters)
  const uint32_t cpu = arch::this_cpu();
  Held& s = held[cpu];
  for (uint32_t i = 0; i < s.depth; ++i) {
    const uint32_t h = s.cls[i];
    if (h == n) continue;  // the order within a class is not checked
    if (reach[n].has(h)) report_inversion(cpu, s, h, n);
    if (!direct[h].has(n)) add_edge(cpu, s, h, n);
  }
  push(s, cpu, n);
}

void after_trylock(LockClass cls) {
  const uint32_t n = static_cast<uint32_t>(cls);
  if (n >= kClasses) return;
  const uint32_t cpu = arch::this_cpu();
  push(held[cpu], cpu, n);
}

void release(LockClass cls) {
  const uint32_t n = static_cast<uint32_t>(cls);
  if (n >= kClasses) return;
  const uint32_t cpu = arch::this_cpu();
  Held& s = held[cpu];
  for (uint32_t i = s.depth; i-- > 0;) {
    if (s.cls[i] != n) continue;
    for (uint32_t j = i; j + 1 < s.depth; ++j) s.cls[j] = s.cls[j + 1];
    --s.depth;
    return;
  }
  message.add("lockdep: CPU ");
  message.add_uint(cpu);
  message.add(" releases ");
  message.add(lock_class_name(cls));
  message.add(", which it does not hold: it holds ");
  message.add_chain(s.cls, s.depth);
  fail();
}

void assert_none_held(const char* what) {
  if (!on) return;
  const uint32_t cpu = arch::this_cpu();
  if (held[cpu].depth) report_held(held[cpu], cpu, what);
}

void assert_only_held(LockClass except, const char* what) {
  if (!on) return;
  const uint32_t cpu = arch::this_cpu();
  const Held& s = held[cpu];
  if (s.depth > 1 || (s.depth == 1 && s.cls[0] != static_cast<uint8_t>(except))) report_held(s, cpu, what);
}

uint32_t edges() { return nr_edges.load(std::memory_order_relaxed); }

bool has_edge(LockClass a, LockClass b) {
  const uint32_t x = static_cast<uint32_t>(a), y = static_cast<uint32_t>(b);
  return x < kClasses && y < kClasses && direct[x].has(y);
}

}  // namespace mm::lockdep
