/*
 * mmlab.h - the mmlab-specific system calls, for guest programs.
 *
 * Guest programs are ordinary static i386 Linux binaries; they must run
 * unmodified on real Linux too. mmlab's own syscalls therefore use numbers
 * far outside Linux's i386 table, where Linux answers -1 / ENOSYS, so a
 * program can tell which kernel it runs on and carry on either way.
 *
 * MMLAB_SYS_COUNTERS (1000): int counters(const char *label)
 *   The mmlab kernel takes a counter snapshot and writes a `counters` record
 *   carrying `label` on its record channel (see ARCHITECTURE.md, "Guest ->
 *   host: records"), then returns 0. A bad label pointer gives -1 / EFAULT.
 *   On Linux: -1 / ENOSYS.
 *
 * MMLAB_SYS_KMAP_CHURN (1001): int kmap_churn(unsigned npages)
 *   The kernel maps `npages` (1..1024) fresh pages in its vmalloc area,
 *   writes each, and unmaps them; new kernel PTE tables made on the way are
 *   synced into every PGD (mm.kernel_pmd=unshared). Then it checks every
 *   live address space for every kernel PMD entry and counts the misses
 *   (`kernel_sync_missed` in the counters and leak records). Returns the
 *   number of kernel PTE tables this call created (0 once the whole vmalloc
 *   area has its tables: they are never freed, as in Linux), -1 / EINVAL
 *   for a bad count, -1 / ENOMEM. On Linux: -1 / ENOSYS.
 */
#ifndef MMLAB_H
#define MMLAB_H

#include <sys/syscall.h>
#include <unistd.h>

#include "mmlab_marker.h" /* the window marker (MMLAB_MARKER), for the host's TLB-model plugin */

#define MMLAB_SYS_COUNTERS 1000
#define MMLAB_SYS_KMAP_CHURN 1001

/* Returns 0 on mmlab; -1 with errno set (ENOSYS on Linux) otherwise. */
static inline int mmlab_counters(const char* label) { return (int)syscall(MMLAB_SYS_COUNTERS, label); }
static inline int mmlab_kmap_churn(unsigned npages) { return (int)syscall(MMLAB_SYS_KMAP_CHURN, npages); }

#endif /* MMLAB_H */
