// The part of QEMU's TCG plugin API (API version 1: QEMU 4.2 to 7.2) that the
// TLB-model plugin uses, declared here because Debian 12's QEMU 7.2 exports
// the functions from qemu-system-i386 but installs no qemu-plugin.h. The
// signatures follow QEMU's documented API (include/qemu/qemu-plugin.h and
// docs/devel/tcg-plugins.rst of that era); QEMU resolves these names in the
// loading binary when it dlopens the plugin. Only what plugin.cc calls.
#pragma once

#include <cstddef>
#include <cstdint>

extern "C" {

using qemu_plugin_id_t = uint64_t;
using qemu_plugin_meminfo_t = uint32_t;  // opaque: query it with the qemu_plugin_mem_* functions

// What QEMU tells a plugin at install time (valid during the call only).
struct qemu_info_t {
  const char* target_name;
  struct {
    int min;
    int cur;
  } version;
  bool system_emulation;
  union {
    struct {
      int smp_vcpus;
      int max_vcpus;
    } system;
  };
};

struct qemu_plugin_tb;    // a translation block being translated (opaque)
struct qemu_plugin_insn;  // one of its instructions (opaque)

enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_mem_rw { QEMU_PLUGIN_MEM_R = 1, QEMU_PLUGIN_MEM_W, QEMU_PLUGIN_MEM_RW };

using qemu_plugin_simple_cb_t = void (*)(qemu_plugin_id_t id);
using qemu_plugin_udata_cb_t = void (*)(qemu_plugin_id_t id, void* userdata);
using qemu_plugin_vcpu_udata_cb_t = void (*)(unsigned int vcpu_index, void* userdata);
using qemu_plugin_vcpu_tb_trans_cb_t = void (*)(qemu_plugin_id_t id, struct qemu_plugin_tb* tb);
using qemu_plugin_vcpu_mem_cb_t = void (*)(unsigned int vcpu_index, qemu_plugin_meminfo_t info, uint64_t vaddr,
                                           void* userdata);

// Translation: called for every block QEMU translates.
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb* tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb* tb);
struct qemu_plugin_insn* qemu_plugin_tb_get_insn(const struct qemu_plugin_tb* tb, size_t idx);
const void* qemu_plugin_insn_data(const struct qemu_plugin_insn* insn);  // valid during the callback only
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn* insn);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn* insn);

// Execution callbacks, registered while translating: before each execution
// of the block / of the instruction; after each memory access of the
// instruction.
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb* tb, qemu_plugin_vcpu_udata_cb_t cb,
                                          enum qemu_plugin_cb_flags flags, void* userdata);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn* insn, qemu_plugin_vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void* userdata);
void qemu_plugin_register_vcpu_mem_cb(struct qemu_plugin_insn* insn, qemu_plugin_vcpu_mem_cb_t cb,
                                      enum qemu_plugin_cb_flags flags, enum qemu_plugin_mem_rw rw, void* userdata);
unsigned int qemu_plugin_mem_size_shift(qemu_plugin_meminfo_t info);  // log2 of the access size in bytes
bool qemu_plugin_mem_is_store(qemu_plugin_meminfo_t info);

// Unregisters every callback of the plugin and flushes QEMU's translation
// cache, asynchronously: the old callbacks may still run until `cb` is
// called (with every vCPU stopped), where the plugin registers anew.
void qemu_plugin_reset(qemu_plugin_id_t id, qemu_plugin_simple_cb_t cb);

// When QEMU exits.
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void* userdata);

}  // extern "C"

// The plugin exports these two (QEMU refuses a plugin without the version).
#define MMLAB_QEMU_PLUGIN_EXPORT __attribute__((visibility("default")))
inline constexpr int kQemuPluginApiVersion = 1;
