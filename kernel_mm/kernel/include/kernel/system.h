// The kernel's one mm::System (main.cc builds it at boot).
#pragma once

#include "mm/system.h"

namespace kern {

extern mm::System* sys;

}  // namespace kern
