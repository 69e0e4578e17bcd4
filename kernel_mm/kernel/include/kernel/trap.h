// Traps (trap.cc): what ends a process from a fault or an exception.
#pragma once

#include "arch/x86.h"

namespace kern {

// A fatal fault or exception in ring 3: prints it and ends the group with
// `sig`. Called with no lock held.
void on_user_fault_kill(x86::TrapFrame* frame, int sig, const char* what);

}  // namespace kern
