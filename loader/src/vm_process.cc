#include "vm_process.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "boot.h"
#include "util.h"

namespace mmlab {

int wait_with_deadline(pid_t pid, double deadline_s) {
  const double end = monotonic_s() + deadline_s;
  for (;;) {
    int status;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (monotonic_s() > end) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    ::usleep(20000);
  }
}

pid_t spawn(const std::vector<std::string>& argv, const std::string& log_path, const std::vector<int>& cpus,
            const std::function<void(pid_t)>& before_exec) {
  int go[2];
  if (::pipe2(go, O_CLOEXEC) != 0) return -1;
  const pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    ::setpgid(0, 0);
    if (!cpus.empty()) {
      cpu_set_t set;
      CPU_ZERO(&set);
      for (int c : cpus) CPU_SET(c, &set);
      ::sched_setaffinity(0, sizeof(set), &set);
    }
    const int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0) ::dup2(null, 0);
    if (!log_path.empty()) {
      const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (log >= 0) {
        ::dup2(log, 1);
        ::dup2(log, 2);
      }
    }
    ::close(go[1]);
    char c;
    while (::read(go[0], &c, 1) < 0 && errno == EINTR) {
    }
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::dprintf(2, "mmlab: cannot run %s: %s\n", args[0], std::strerror(errno));
    ::_exit(127);
  }
  ::close(go[0]);
  if (before_exec) before_exec(pid);
  ::close(go[1]);  // EOF releases the child
  return pid;
}

AccelChoice choose_accel(Accel requested, bool deterministic, const GuestPaths& paths, double probe_deadline_s) {
  if (deterministic) return {false, "deterministic: TCG with -icount shift=0 (time counts guest instructions)"};
  if (requested == Accel::kTcg) return {false, "TCG, as asked"};
  const int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0) return {false, fmt::format("no usable KVM: /dev/kvm: {}; using TCG", std::strerror(errno))};
  ::close(fd);
  if (requested == Accel::kKvm) return {true, "KVM, as asked (not probed)"};
  // Boot a probe guest: some hosts open /dev/kvm but cannot run a 32-bit PAE guest.
  VmSpec probe{.kvm = true, .memory_mb = 64, .init = "/hello"};
  probe.kernel_image = paths.mmlab_kernel;
  probe.initrd = paths.initrd;
  int code = -2;
  std::string qemu_log;
  try {
    const BootResult r = boot_once(probe, probe_deadline_s, false);
    code = r.qemu_exit;
    qemu_log = r.qemu_stderr;
  } catch (const std::exception&) {
  }
  if (code == 33) return {true, fmt::format("KVM: a probe guest ran under KVM within {:.0f} s", probe_deadline_s)};
  std::string why;
  if (code == -1)
    why = fmt::format("a probe PAE guest did not finish under KVM within {:.0f} s", probe_deadline_s);
  else if (code == -2)
    why = "could not start QEMU for the KVM probe";
  else
    why = fmt::format("a probe PAE guest under KVM ended with QEMU status {}{}", code,
                      qemu_log.empty() ? "" : ": " + qemu_log.substr(0, 200));
  std::replace(why.begin(), why.end(), '\n', ' ');
  return {false, why + "; using TCG"};
}

}  // namespace mmlab
