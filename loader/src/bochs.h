// Bochs, the second x86 (docs/testing.md, "Bochs: the stricter x86").
//
// QEMU TCG re-reads the PAE PDPTEs on every page walk; Bochs, like real
// CPUs, loads them only at a CR3 write, so a kernel that forgets a
// PDPTE-forced CR3 reload passes under QEMU and fails under Bochs. mmlab
// boots the same kernel and initrd under either; this file is the Bochs
// side: the boot image (GRUB from grub-mkrescue, the kernel command line in
// its grub.cfg), the bochsrc, and the verdict, which Bochs cannot carry in
// its exit status (no isa-debug-exit): it is the kernel's last record,
// `exit` (docs/records.md).
#pragma once

#include <string>
#include <vector>

#include "guest.h"

namespace mmlab {

// Throws std::invalid_argument for what a spec asks that the Bochs boot
// cannot do (Linux, KVM, -icount, the TLB-model plugin, no isa-debug-exit,
// no ACPI, a socket topology, a command-line word GRUB would rewrite).
void check_bochs_spec(const VmSpec& s);

// Writes one boot's files into `dir` (the ISO tree and grub.cfg, the ISO
// made by grub-mkrescue, the bochsrc and the debugger's command file, which
// says `c`) and returns the Bochs command line. The console and record
// files are the spec's console_path ("stdio": the terminal) and
// records_path. Throws std::invalid_argument as check_bochs_spec, and
// std::runtime_error when grub-mkrescue fails.
std::vector<std::string> bochs_prepare(const VmSpec& s, const std::string& dir);

// Removes the bulky files bochs_prepare wrote (the ISO and its tree); the
// bochsrc and Bochs's log stay.
void bochs_cleanup(const std::string& dir);

// The exit status QEMU's isa-debug-exit would have given for this boot, so
// that the rest of the loader reads both emulators alike: 33 (pass) or 35
// (fail) from the last `exit` record, -1 when Bochs was killed at its
// deadline (bochs_exit -1). A boot that ended without an exit record has no
// verdict and never passes: its Bochs exit status, or 1 if that was 33 or 35.
int bochs_exit_status(int bochs_exit, const std::string& records_text);

// Bochs's own version line ("Bochs x86 Emulator 2.7"), or "unknown".
std::string bochs_version();

}  // namespace mmlab
