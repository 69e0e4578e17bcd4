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
 */
#ifndef MMLAB_H
#define MMLAB_H

#include <sys/syscall.h>
#include <unistd.h>

#define MMLAB_SYS_COUNTERS 1000

/* Returns 0 on mmlab; -1 with errno set (ENOSYS on Linux) otherwise. */
static inline int mmlab_counters(const char* label) { return (int)syscall(MMLAB_SYS_COUNTERS, label); }

#endif /* MMLAB_H */
