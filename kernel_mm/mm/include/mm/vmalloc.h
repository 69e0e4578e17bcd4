// Kernel mappings created at run time: the vmalloc area, and the direct map
// at boot. New kernel PTE tables go into the reference kernel PMD; with an
// unshared kernel PMD every PGD's copy must then get the entry too.
#pragma once

#include <cstdint>

#include "mm/entry.h"
#include "mm/system.h"
#include "mm/types.h"

namespace mm {

// Maps [va, va+len) to [pa, pa+len) above PAGE_OFFSET, with 2-MByte pages
// where alignment allows and `allow_large` (the boot-time direct map).
Status kernel_map_range(System& sys, VirtAddr va, PhysAddr pa, uint32_t len, PageProt prot, bool allow_large);

// Maps one page in the vmalloc area. Creates the kernel PTE table when the
// PMD entry is empty and, before returning, propagates that entry to every
// PGD (mm.kernel_pmd=unshared): on pgd_list under pgd_lock (locked), or to
// every published mm (lockless).
Status map_kernel_page(System& sys, VirtAddr va, PhysAddr pa, PageProt prot);
// Clears the PTEs of [va, va + npages pages) and flushes them on every CPU.
// The kernel PTE tables stay.
void unmap_kernel_range(System& sys, VirtAddr va, uint32_t npages);

// vmalloc / vfree: `npages` fresh frames mapped contiguously in the vmalloc area.
Status vmalloc(System& sys, uint32_t npages, VirtAddr* out);
void vfree(System& sys, VirtAddr va, uint32_t npages);

// ioremap / iounmap: device or firmware memory at [pa, pa + len), any
// alignment, mapped uncached (PCD | PWT), writable, not executable, in the
// vmalloc area; *out is the address of pa itself. The frames are not the
// allocator's (the local APIC's registers, ACPI tables above lowmem).
Status ioremap(System& sys, PhysAddr pa, uint32_t len, VirtAddr* out);
void iounmap(System& sys, VirtAddr va, uint32_t len);

// How many entries of the reference kernel PMD are missing from, or point
// elsewhere in, what mm's PGD maps at entry 3 (Entry::same_target: the
// Accessed bit a CPU sets on a walk does not count). Zero for every live,
// published mm is the "no missed kernel-mapping sync" invariant. Safe to
// call while other CPUs fork, exit and map: an mm not yet kernel_ready (no
// CPU may load it) and an entry whose sync has not finished are not counted
// (both are promised only once their side is done).
uint32_t kernel_pmd_missing(System& sys, MmStruct* mm);

}  // namespace mm
