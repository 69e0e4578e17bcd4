// libmmlab_tlb.so: the TLB-model plugin for qemu-system-i386 (docs/tlb-model.md).
//
//   qemu-system-i386 ... -plugin build/lib/libmmlab_tlb.so,out=PATH[,itlb=128:8][,dtlb=64:4][,stlb=1536:12]
//                                [,pde=32][,global=kernel|none][,start=marker|boot]
//
// Per vCPU it counts instructions (each translation block's count, added
// when the block starts), MOV to CR3 and CR4 and INVLPG (recognised when
// translated, counted when executed), and feeds a TlbModel with the page of
// every block it runs (once per distinct page per execution) and with every
// data access. When the window marker (workloads/include/mmlab_marker.h)
// executes, it writes a checkpoint: every vCPU's cumulative counts at that
// moment. Output, JSON lines to out=PATH: a header, the checkpoints in order,
// a final line at exit.
//
// The model is the costly part (a call per memory access), and a kernel's
// boot is most of a short cell's instructions, so by default (start=marker)
// it starts at the first marker: until then blocks are translated with the
// counting callbacks only; the first marker's checkpoint says the model
// starts there, and the plugin resets itself (QEMU flushes its translation
// cache and drops the plugin's callbacks), then registers the modelling
// translation callback. start=boot models from QEMU's first instruction.
//
// Callbacks run on the vCPU's own thread (one thread for all vCPUs under
// -icount, one each under MTTCG); a vCPU's counts are written only there
// and read by a checkpoint on another vCPU as relaxed atomics. Nothing here
// may throw into QEMU or crash it: a bad argument makes qemu_plugin_install
// fail with a message, and QEMU then refuses to start.
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "insn_match.h"
#include "plugin_args.h"
#include "qemu_plugin_api.h"
#include "tlb_model.h"

extern "C" {
MMLAB_QEMU_PLUGIN_EXPORT int qemu_plugin_version = kQemuPluginApiVersion;
MMLAB_QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t* info, int argc, char** argv);
}

namespace mmlab::tlb {
namespace {

constexpr int kOutputVersion = 1;

// The plugin's own counts per vCPU besides instructions, in output order
// (the model's follow).
#define MMLAB_PLUGIN_COUNTS(X) \
  X(cr3_writes)                \
  X(cr4_writes)                \
  X(invlpg)                    \
  X(markers)

struct alignas(64) Vcpu {
  explicit Vcpu(const Config& c) : model(c) {}
  TlbModel model;
  Count insns;
#define MMLAB_X(name) Count name;
  MMLAB_PLUGIN_COUNTS(MMLAB_X)
#undef MMLAB_X
};

struct State {
  PluginOptions opts;
  qemu_plugin_id_t id = 0;
  std::vector<std::unique_ptr<Vcpu>> vcpus;  // by vcpu_index, all made at install
  std::atomic<bool> modelling{false};        // blocks translated from now on feed the model
  std::mutex out_lock;                       // guards out, checkpoints and model_started
  FILE* out = nullptr;
  uint64_t checkpoints = 0;
  bool model_started = false;  // a checkpoint said the model starts (start=boot: from the header)
};
// Made by qemu_plugin_install and never freed: callbacks may run until QEMU exits.
State* state = nullptr;

Vcpu* vcpu_at(unsigned i) { return state && i < state->vcpus.size() ? state->vcpus[i].get() : nullptr; }

// A block's user data, packed into the pointer (no allocation per
// translation): its instruction count (bits 0-11; TCG makes at most 512),
// whether it reaches into the next page (bit 12), its first page (bits 13-).
constexpr uintptr_t kInsnsMask = 0xFFF, kCrossesPage = 0x1000;
constexpr uint64_t kPageMask = (uint64_t{1} << kPageShift) - 1;
constexpr uint64_t kMaxAccess = 64;  // bytes: no x86 access QEMU reports is larger
constexpr unsigned kPageAt = 13;
// An instruction's: its InsnKind (bits 0-7) and how many instructions follow
// it in its block (bits 8-), which the block callback has already counted.
constexpr unsigned kAfterAt = 8;

void* to_udata(uintptr_t v) { return reinterpret_cast<void*>(v); }
uintptr_t from_udata(void* p) { return reinterpret_cast<uintptr_t>(p); }

// `with_model`: the model's counts too (left out before the model started).
std::string counts_json(const Vcpu& v, uint64_t not_yet_run, bool with_model) {
  std::string s = "{";
  char buf[64];
  auto field = [&](const char* name, uint64_t value) {
    std::snprintf(buf, sizeof(buf), "%s\"%s\":%llu", s.size() > 1 ? "," : "", name,
                  static_cast<unsigned long long>(value));
    s += buf;
  };
  const uint64_t insns = v.insns.get();
  field("insns", insns >= not_yet_run ? insns - not_yet_run : 0);
#define MMLAB_X(name) field(#name, v.name.get());
  MMLAB_PLUGIN_COUNTS(MMLAB_X)
#undef MMLAB_X
  if (with_model) {
    const Stats m = v.model.stats();
#define MMLAB_X(name) field(#name, m.name);
    MMLAB_TLB_MODEL_COUNTS(MMLAB_X)
#undef MMLAB_X
  }
  return s + "}";
}

std::string all_vcpus_json(unsigned marker_vcpu, uint64_t not_yet_run, bool with_model) {
  std::string s = "[";
  for (size_t i = 0; i < state->vcpus.size(); ++i) {
    if (i) s += ",";
    s += counts_json(*state->vcpus[i], i == marker_vcpu ? not_yet_run : 0, with_model);
  }
  return s + "]";
}

void write_line(const std::string& line) {
  std::fputs(line.c_str(), state->out);
  std::fputc('\n', state->out);
  std::fflush(state->out);  // a QEMU killed at its deadline keeps every checkpoint written so far
}

void on_translate(qemu_plugin_id_t, qemu_plugin_tb* tb);
void on_qemu_exit(qemu_plugin_id_t, void*);

// Every vCPU stopped, the translation cache empty, no callback registered:
// from now on every block is translated with the model's callbacks.
void on_reset(qemu_plugin_id_t id) {
  state->modelling.store(true, std::memory_order_relaxed);
  qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
  qemu_plugin_register_atexit_cb(id, on_qemu_exit, nullptr);
}

// With start=marker the first checkpoint says "model_starts" (its model
// counts are all zero): the model counts from that marker on, less the rest
// of its block and whatever runs until QEMU has stopped the vCPUs for the
// reset (under -icount: nothing more; under MTTCG the other vCPUs' current
// blocks).
void checkpoint(unsigned vcpu_index, uint64_t not_yet_run) {
  bool start_now = false;
  try {
    std::lock_guard<std::mutex> g(state->out_lock);
    if (!state->out) return;
    start_now = !state->model_started;
    state->model_started = true;
    char head[128];
    std::snprintf(head, sizeof(head), "{\"type\":\"checkpoint\",\"index\":%llu,\"vcpu\":%u,%s\"vcpus\":",
                  static_cast<unsigned long long>(state->checkpoints++), vcpu_index,
                  start_now ? "\"model_starts\":true," : "");
    write_line(head + all_vcpus_json(vcpu_index, not_yet_run, true) + "}");
  } catch (...) {
    // Out of memory while formatting: the checkpoint is lost, QEMU goes on
    // (the loader then finds fewer checkpoints than counters records).
  }
  if (start_now) qemu_plugin_reset(state->id, on_reset);
}

// Before the model starts: the instructions only.
void on_block_count(unsigned vcpu_index, void* udata) {
  if (Vcpu* v = vcpu_at(vcpu_index)) v->insns.add(from_udata(udata) & kInsnsMask);
}

void on_block(unsigned vcpu_index, void* udata) {
  Vcpu* v = vcpu_at(vcpu_index);
  if (!v) return;
  const uintptr_t u = from_udata(udata);
  v->insns.add(u & kInsnsMask);
  const uint64_t page = static_cast<uint64_t>(u >> kPageAt) << kPageShift;
  v->model.fetch(page);
  if (u & kCrossesPage) v->model.fetch(page + (uint64_t{1} << kPageShift));
}

void on_insn(unsigned vcpu_index, void* udata) {
  Vcpu* v = vcpu_at(vcpu_index);
  if (!v) return;
  const uintptr_t u = from_udata(udata);
  switch (static_cast<InsnKind>(u & 0xFF)) {
    case InsnKind::kCr3Write:
      v->cr3_writes.add();
      v->model.cr3_write();
      break;
    case InsnKind::kCr4Write:
      v->cr4_writes.add();
      v->model.cr4_write();
      break;
    case InsnKind::kInvlpg:
      v->invlpg.add();
      v->model.invlpg();
      break;
    case InsnKind::kMarker:
      v->markers.add();
      checkpoint(vcpu_index, u >> kAfterAt);
      break;
    case InsnKind::kOther:
      break;
  }
}

// One callback for loads and stores: QEMU 7.2 does not dispatch separate
// load-only and store-only callbacks of one instruction correctly (measured:
// with both registered, the store callback also saw every load). Only an
// access that may reach into the next page asks for its size.
void on_memory(unsigned vcpu_index, qemu_plugin_meminfo_t info, uint64_t vaddr, void*) {
  Vcpu* v = vcpu_at(vcpu_index);
  if (!v) return;
  const uint32_t size =
      (vaddr & kPageMask) > kPageMask - kMaxAccess ? 1u << std::min(qemu_plugin_mem_size_shift(info), 12u) : 1;
  if (qemu_plugin_mem_is_store(info))
    v->model.store(vaddr, size);
  else
    v->model.load(vaddr, size);
}

void on_translate(qemu_plugin_id_t, qemu_plugin_tb* tb) {
  const size_t n = qemu_plugin_tb_n_insns(tb);
  if (n == 0) return;
  const bool modelling = state->modelling.load(std::memory_order_relaxed);
  const uint64_t start = qemu_plugin_tb_vaddr(tb);
  uint64_t end = start + 1;
  for (size_t i = 0; i < n; ++i) {
    qemu_plugin_insn* insn = qemu_plugin_tb_get_insn(tb, i);
    if (!insn) continue;
    const size_t len = qemu_plugin_insn_size(insn);
    end = std::max(end, qemu_plugin_insn_vaddr(insn) + len);
    const InsnKind kind = classify(static_cast<const uint8_t*>(qemu_plugin_insn_data(insn)), len);
    if (kind != InsnKind::kOther)
      qemu_plugin_register_vcpu_insn_exec_cb(
          insn, on_insn, QEMU_PLUGIN_CB_NO_REGS,
          to_udata(static_cast<uintptr_t>(kind) | static_cast<uintptr_t>(n - 1 - i) << kAfterAt));
    if (modelling)
      qemu_plugin_register_vcpu_mem_cb(insn, on_memory, QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_MEM_RW, nullptr);
  }
  const bool crosses = ((end - 1) >> kPageShift) != (start >> kPageShift);
  const uintptr_t u = std::min<uintptr_t>(n, kInsnsMask) | (crosses ? kCrossesPage : 0) |
                      static_cast<uintptr_t>(start >> kPageShift) << kPageAt;
  qemu_plugin_register_vcpu_tb_exec_cb(tb, modelling ? on_block : on_block_count, QEMU_PLUGIN_CB_NO_REGS, to_udata(u));
}

void on_qemu_exit(qemu_plugin_id_t, void*) {
  std::lock_guard<std::mutex> g(state->out_lock);
  if (!state->out) return;
  try {
    char head[96];
    std::snprintf(head, sizeof(head), "{\"type\":\"final\",\"checkpoints\":%llu,\"vcpus\":",
                  static_cast<unsigned long long>(state->checkpoints));
    write_line(head + all_vcpus_json(~0u, 0, state->model_started) + "}");
  } catch (...) {
  }
  std::fclose(state->out);
  state->out = nullptr;
}

std::string header_json(const State& s, const qemu_info_t& info) {
  const Config& c = s.opts.model;
  char head[256];
  std::snprintf(head, sizeof(head),
                "{\"type\":\"header\",\"plugin\":\"mmlab_tlb\",\"version\":%d,\"qemu\":{\"target\":\"%s\","
                "\"plugin_api_min\":%d,\"plugin_api_cur\":%d},\"vcpus\":%zu,",
                kOutputVersion, info.target_name, info.version.min, info.version.cur, s.vcpus.size());
  return std::string(head) + "\"model\":" + config_json(c) +
         ",\"source\":\"Intel 64 and IA-32 Architectures Optimization Reference Manual 248966-045, Table 2-15 "
         "(Skylake client, 4 KiB pages); the PDE-cache size is an assumption\"" +
         ",\"global_rule\":\"" +
         (c.kernel_global ? "kernel: translations of VA >= 0xC0000000 are global (survive CR3 writes)"
                          : "none: no translation is global") +
         "\",\"invlpg_rule\":\"counted exactly; flushes the whole PDE cache and no TLB entry (the address is "
         "unknown): each INVLPG bounds one unmodelled miss per TLB level\"" +
         ",\"start\":\"" + to_string(s.opts.start) + "\",\"start_rule\":\"" +
         (s.opts.start == ModelStart::kBoot
              ? "the model runs from QEMU's first instruction"
              : "the model starts at the first window marker (the checkpoint with model_starts); before it only "
                "instructions, CR3 and CR4 writes, INVLPGs and markers are counted") +
         "\"" + ",\"cr4_rule\":\"every MOV to CR4 flushes every TLB entry, global ones too, and the PDE cache\"" +
         ",\"insns_rule\":\"a block's instructions are counted when it starts: a block left by an exception "
         "counts its unexecuted tail\"}";
}

int install(const qemu_info_t* info, int argc, char** argv, qemu_plugin_id_t id) {
  auto fail = [](const std::string& why) {
    std::fprintf(stderr, "mmlab_tlb: %s (docs/tlb-model.md)\n", why.c_str());
    return -1;
  };
  if (!info || !info->system_emulation) return fail("works in system emulation only (qemu-system-i386)");
  const std::string target = info->target_name ? info->target_name : "";
  if (target != "i386" && target != "x86_64") return fail("models an x86 TLB; this QEMU emulates '" + target + "'");
  auto s = std::make_unique<State>();
  const std::vector<std::string> words(argv, argv + std::max(argc, 0));
  if (std::string why = parse_args(words, &s->opts); !why.empty()) return fail(why);
  const int n = info->system.max_vcpus;
  if (n < 1 || n > 4096) return fail("an unexpected vCPU count " + std::to_string(n));
  for (int i = 0; i < n; ++i) s->vcpus.push_back(std::make_unique<Vcpu>(s->opts.model));
  s->out = std::fopen(s->opts.out.c_str(), "w");
  if (!s->out) return fail("out=" + s->opts.out + ": cannot write it: " + std::strerror(errno));
  s->id = id;
  s->modelling = s->model_started = s->opts.start == ModelStart::kBoot;
  state = s.release();
  write_line(header_json(*state, *info));
  qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
  qemu_plugin_register_atexit_cb(id, on_qemu_exit, nullptr);
  return 0;
}

}  // namespace
}  // namespace mmlab::tlb

int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t* info, int argc, char** argv) {
  try {
    return mmlab::tlb::install(info, argc, argv, id);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mmlab_tlb: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "mmlab_tlb: install failed\n");
  }
  return -1;
}
