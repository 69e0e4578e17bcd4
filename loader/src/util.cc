#include "util.h"

#include <elf.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

namespace mmlab {

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? sep : "") + parts[i];
  return out;
}

std::string base_name(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string check_static_i386(const std::string& path) {
  const auto data = read_file(path);
  if (!data) return "cannot read it";
  if (data->size() < sizeof(Elf32_Ehdr)) return "too short for an ELF header";
  Elf32_Ehdr eh;
  std::memcpy(&eh, data->data(), sizeof(eh));
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) return "not an ELF file";
  if (eh.e_ident[EI_CLASS] != ELFCLASS32 || eh.e_machine != EM_386) return "not a 32-bit i386 ELF file";
  if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN) return "not an executable";
  if (eh.e_phentsize != sizeof(Elf32_Phdr) || eh.e_phoff + uint64_t{eh.e_phnum} * sizeof(Elf32_Phdr) > data->size())
    return "program headers out of the file";
  for (uint32_t i = 0; i < eh.e_phnum; ++i) {
    Elf32_Phdr ph;
    std::memcpy(&ph, data->data() + eh.e_phoff + i * sizeof(ph), sizeof(ph));
    if (ph.p_type == PT_INTERP) return "dynamically linked (build it with gcc -m32 -static)";
  }
  return "";
}

bool write_file_atomic(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      ::close(fd);
      errno = e;
      return false;
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) return false;
  return ::rename(tmp.c_str(), path.c_str()) == 0;
}

std::string fnv1a64(const std::string& bytes) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : bytes) h = (h ^ c) * 0x100000001b3ull;
  return fmt::format("{:016x}", h);
}

std::string fnv1a64_file(const std::string& path) {
  const auto data = read_file(path);
  return data ? fnv1a64(*data) : "";
}

std::string elf_build_id(const std::string& path) {
  const auto data = read_file(path);
  if (!data || data->size() < sizeof(Elf32_Ehdr)) return "";
  Elf32_Ehdr eh;
  std::memcpy(&eh, data->data(), sizeof(eh));
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS32) return "";
  for (uint32_t i = 0; i < eh.e_phnum; ++i) {
    Elf32_Phdr ph;
    if (eh.e_phoff + (i + 1) * sizeof(ph) > data->size()) return "";
    std::memcpy(&ph, data->data() + eh.e_phoff + i * sizeof(ph), sizeof(ph));
    if (ph.p_type != PT_NOTE || ph.p_offset + uint64_t{ph.p_filesz} > data->size()) continue;
    for (uint32_t off = ph.p_offset; off + sizeof(Elf32_Nhdr) <= ph.p_offset + ph.p_filesz;) {
      Elf32_Nhdr nh;
      std::memcpy(&nh, data->data() + off, sizeof(nh));
      const uint32_t name_off = off + sizeof(nh), desc_off = name_off + ((nh.n_namesz + 3) & ~3u);
      if (desc_off + uint64_t{nh.n_descsz} > data->size()) break;
      if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 && std::memcmp(data->data() + name_off, "GNU", 4) == 0) {
        std::string hex;
        for (uint32_t j = 0; j < nh.n_descsz; ++j)
          hex += fmt::format("{:02x}", static_cast<unsigned char>((*data)[desc_off + j]));
        return hex;
      }
      off = desc_off + ((nh.n_descsz + 3) & ~3u);
    }
  }
  return "";
}

std::optional<std::string> capture(const std::vector<std::string>& argv) {
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return std::nullopt;
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(pipefd[0]);
    ::close(pipefd[1]);
    return std::nullopt;
  }
  if (pid == 0) {
    ::dup2(pipefd[1], 1);
    const int null = ::open("/dev/null", O_RDWR);
    if (null >= 0) {
      ::dup2(null, 0);
      ::dup2(null, 2);
    }
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(pipefd[1]);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(pipefd[0], buf, sizeof buf)) != 0;) {
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(pipefd[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return std::nullopt;
  return out;
}

std::string json_line(const nlohmann::json& j) { return json_text(j, -1); }

std::string json_text(const nlohmann::json& j, int indent) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string str_of(const nlohmann::json& j, const char* key, const std::string& otherwise) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : otherwise;
}
int64_t int_of(const nlohmann::json& j, const char* key, int64_t otherwise) {
  const auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : otherwise;
}
bool bool_of(const nlohmann::json& j, const char* key, bool otherwise) {
  const auto it = j.find(key);
  return it != j.end() && it->is_boolean() ? it->get<bool>() : otherwise;
}

std::string now_iso8601() {
  const std::time_t t = std::time(nullptr);
  std::tm tm;
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

double monotonic_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double host_busy_cpu_seconds() {
  const auto stat = read_file("/proc/stat");
  if (!stat) return 0;
  std::istringstream in(stat->substr(0, stat->find('\n')));
  std::string cpu;
  uint64_t v[8] = {};
  in >> cpu;
  for (uint64_t& x : v) in >> x;
  // user nice system idle iowait irq softirq steal
  const uint64_t busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
  return static_cast<double>(busy) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

double process_cpu_seconds(int pid) {
  const auto stat = read_file(fmt::format("/proc/{}/stat", pid));
  if (!stat) return 0;
  // The fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
  const size_t close = stat->rfind(')');
  if (close == std::string::npos || close + 2 > stat->size()) return 0;
  std::istringstream in(stat->substr(close + 2));
  std::string field;
  uint64_t utime = 0, stime = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
    if (i == 15) stime = std::strtoull(field.c_str(), nullptr, 10);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

std::vector<double> load_average() {
  std::vector<double> v;
  if (auto s = read_file("/proc/loadavg")) {
    std::istringstream in(*s);
    for (int i = 0; i < 3; ++i) {
      double d;
      if (in >> d) v.push_back(d);
    }
  }
  return v;
}

}  // namespace mmlab
