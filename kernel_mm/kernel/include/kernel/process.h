// Process lifecycle (process.cc) and exec (exec.cc): fork, clone, exit,
// wait, kill, PID 1, and the end of the run. None of these is called with
// a lock held; each takes the locks it needs (task.h, docs/kernel.md "The
// kernel's locks").
#pragma once

#include <cstdint>

#include "arch/x86.h"
#include "kernel/task.h"

namespace mm {
struct FailPolicy;
}

namespace kern {

// Binds the kernel's own global locks (proctree_lock, the futex buckets,
// the open files, the console and the record channel) to their classes and
// to the mm System's counters, so that they are counted and the lock-order
// checker sees them. Boot, once the System exists and before the APs start.
void init_kernel_locks();
// The same for a new group's locks (alloc_task).
void init_group_locks(ThreadGroup& g);

// fork / vfork / fork-like clone: CLONE_PARENT_SETTID, CLONE_CHILD_SETTID
// and CLONE_CHILD_CLEARTID are honoured (glibc's fork uses them).
int32_t do_fork(x86::TrapFrame* frame, uint32_t clone_flags, uint32_t parent_tid, uint32_t child_tid);
// clone: fork-like flags fork; CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|
// CLONE_THREAD together (pthread_create) make a thread of the caller's
// group on the user stack `newsp`, with CLONE_SETTLS's descriptor at `tls`;
// any other sharing combination is -EINVAL.
int32_t do_clone(x86::TrapFrame* frame, uint32_t flags, uint32_t newsp, uint32_t parent_tid, uint32_t tls,
                 uint32_t child_tid);
// Shutdown, with every other CPU parked: kills every task left.
uint32_t reap_all();
// PID 1 (its leader: any of its threads).
bool is_init(const Task* t);
// exit(2): this thread ends; the group ends with its last thread.
[[noreturn]] void do_exit(int32_t wait_status);
// A thread told to end (Task::killed) ends with its group's status.
[[noreturn]] void do_exit_killed();
// exit_group(2) and fatal signals: every thread of the group ends.
[[noreturn]] void do_group_exit(int32_t wait_status);
// exec in a multi-threaded group (Linux's de_thread): the other threads
// end, and the caller (the leader) waits until they have; -EINTR if it is
// itself killed meanwhile.
int32_t de_thread();
int32_t do_wait4(int32_t pid, uint32_t status_ptr, uint32_t options, uint32_t rusage_ptr);
// The task with this pid (a thread, or a leader not yet reaped), or nullptr:
// kill, tkill and tgkill (sys_signal.cc) look their target up with it.
Task* find_task(int32_t pid) MM_REQ(proctree_lock);
// getppid: the pid of the process that reaps the caller's.
int32_t parent_pid();
// Starts PID 1 from `path` with argv/envp (kernel strings); false on failure.
// `fail`: fault injection (mm.fail_alloc), switched on once init's exec has
// succeeded, so that the boot itself never fails on purpose. Boot, before
// the scheduler starts.
bool start_init(const char* path, const char* const* argv, int argc, const char* const* envp, int envc,
                const mm::FailPolicy& fail);
// PID 1 exited (records.cc): kills what is left, writes the `leak` record,
// leaves QEMU.
[[noreturn]] void shutdown(int32_t init_status);

// exec.cc: replaces the current process's image. Returns 0 or -errno; on
// error the old image is untouched. exec_kernel takes kernel strings (PID
// 1's first exec), do_execve the caller's.
int32_t exec_kernel(x86::TrapFrame* frame, const char* path, const char* const* argv, uint32_t argc,
                    const char* const* envp, uint32_t envc);
int32_t do_execve(x86::TrapFrame* frame, uint32_t path, uint32_t argv, uint32_t envp);

// TLS descriptors (set_thread_area and CLONE_SETTLS): a struct user_desc at
// `uinfo` into tls[]; an entry number of -1 picks a free slot and writes it
// back. 0 or -errno.
int32_t tls_from_user(uint64_t* tls, uint32_t uinfo);

}  // namespace kern
