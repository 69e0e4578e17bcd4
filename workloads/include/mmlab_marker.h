/*
 * mmlab_marker.h - the window marker, the one definition for the guest (the mmlab kernel and /init) and the host's
 * TLB-model plugin (loader/plugin, docs/tlb-model.md).
 *
 * The marker is a 7-byte NOP, `nopl 0x626c6d6d(%eax)` (0F 1F /0, ModRM 0x80: [eax + disp32]), whose displacement
 * spells "mmlb". It does nothing on any x86; the plugin, which sees every instruction QEMU translates, recognises
 * these exact bytes and writes a checkpoint of its per-vCPU counts when one executes. Each `counters` record the
 * guest sends has exactly one marker executed at the moment its snapshot is taken: the mmlab kernel runs it in
 * emit_counters_record, /init runs it before each /proc/vmstat snapshot on Linux (where the mmlab counters call
 * fails with ENOSYS). No other program may hold these bytes (a test scans every file of the initrds and both
 * kernels for them).
 *
 * Pure macros, no includes: usable from C, C++, freestanding and hosted.
 */
#ifndef MMLAB_MARKER_H
#define MMLAB_MARKER_H

/* The bytes, as an initializer list and as an assembler directive. */
#define MMLAB_MARKER_BYTES 0x0f, 0x1f, 0x80, 0x6d, 0x6d, 0x6c, 0x62
#define MMLAB_MARKER_LEN 7
#define MMLAB_MARKER_STR_(...) #__VA_ARGS__
#define MMLAB_MARKER_STR(...) MMLAB_MARKER_STR_(__VA_ARGS__)
#define MMLAB_MARKER_ASM ".byte " MMLAB_MARKER_STR(MMLAB_MARKER_BYTES)

/* Executes the marker. A compiler barrier: memory accesses before it stay before it. */
#define MMLAB_MARKER() __asm__ __volatile__(MMLAB_MARKER_ASM ::: "memory")

#endif /* MMLAB_MARKER_H */
