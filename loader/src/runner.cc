#include "runner.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <stdexcept>

#include "bochs.h"
#include "boot.h"
#include "host_counters.h"
#include "result_set.h"
#include "tlb_plugin.h"
#include "toggle_table.h"
#include "util.h"

namespace mmlab {

using nlohmann::json;

namespace {

volatile sig_atomic_t g_stop_signal = 0;
void on_stop_signal(int sig) { g_stop_signal = sig; }

void install_stop_handlers() {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: the main loop's sleep returns at once
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

}  // namespace

namespace {

std::string host_cpu_model() {
  if (auto info = read_file("/proc/cpuinfo")) {
    const size_t p = info->find("model name");
    if (p != std::string::npos) {
      const size_t colon = info->find(':', p), eol = info->find('\n', p);
      if (colon != std::string::npos) return trim(info->substr(colon + 1, eol - colon - 1));
    }
  }
  return "unknown";
}

std::string fmt_duration(double s) {
  const auto t = static_cast<uint64_t>(s + 0.5);
  return t >= 3600 ? fmt::format("{}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60)
                   : fmt::format("{}:{:02}", t / 60, t % 60);
}

}  // namespace

namespace {

struct Running {
  Cell cell;
  std::string id, dir;
  pid_t pid = -1;
  double start = 0;
  bool killed = false;
  int slot = -1;
  std::vector<double> load_before;
  std::string started_at;
  std::unique_ptr<HostCounters> counters;
  double others_cpu_seconds = 0;  // host CPU time spent on other work while it ran
};

class Runner {
 public:
  Runner(const Matrix& m, const std::string& matrix_text, const RunOptions& o)
      : m_(m), text_(matrix_text), o_(o), paths_(paths_from_build()), results_(o.out_dir, o.resume) {}

  int run() {
    check_inputs();
    if (o_.resume && results_.previous_manifest().contains("matrix_fnv1a64") &&
        results_.previous_manifest()["matrix_fnv1a64"] != fnv1a64(text_))
      throw std::runtime_error(
          fmt::format("{} was started with another matrix ({}/matrix.toml); --resume needs the same one",
                      results_.dir(), results_.dir()));
    std::vector<Cell> all = expand(m_);
    const uint64_t seed = m_.seed.value_or(o_.resume && results_.previous_manifest().contains("seed")
                                               ? results_.previous_manifest()["seed"].get<uint64_t>()
                                               : std::random_device{}());
    const bool deterministic = o_.deterministic.value_or(m_.deterministic);
    const size_t in_matrix = all.size();
    if (deterministic && m_.repetitions > 1) all = once_per_configuration(all, kVerifyEvery, &verify_);
    std::vector<Cell> todo;
    for (const Cell& c : all)
      if (c.index % o_.shard_count == o_.shard_index && !results_.done().count(c.key())) todo.push_back(c);
    shuffle_cells(&todo, seed);
    const uint32_t already = static_cast<uint32_t>(results_.done().size());
    total_ = static_cast<uint32_t>(todo.size());
    tlb_requested_ = o_.tlb_model.value_or(m_.tlb_model);
    if (m_.emulator == Emulator::kBochs) {
      if (o_.accel == Accel::kKvm)
        throw std::runtime_error("--accel kvm: this matrix runs Bochs (emulator = \"bochs\")");
      if (deterministic)
        throw std::runtime_error("--deterministic: this matrix runs Bochs, which has no -icount (QEMU's)");
      accel_ = {false, fmt::format("Bochs: no accel ({})", bochs_version())};
    } else {
      accel_ = choose_accel(o_.accel.value_or(m_.accel), deterministic, paths_, 3.0);
    }
    icount_ = deterministic;
    decide_tlb_model();
    plan_placement(todo);
    say(fmt::format(
            "mmlab: {} cells ({} in the matrix{}{}{}), accel {}: {}", total_, in_matrix,
            all.size() < in_matrix
                ? fmt::format(", deterministic: each configuration once, {} of them twice to check", verify_.size())
                : "",
            o_.shard_count > 1 ? fmt::format(", shard {}/{}", o_.shard_index, o_.shard_count) : "",
            already ? fmt::format(", {} already done", already) : "", accel_used(), accel_.reason),
        true);
    say(fmt::format("mmlab: {} at a time, {}", jobs_, placement_), true);
    if (tlb_requested_)
      say(tlb_on_ ? fmt::format("mmlab: TLB model on: {}", tlb_why_)
                  : fmt::format("mmlab: TLB model requested but not loaded: {}; the cells run without it", tlb_why_),
          true);
    if (results_.skipped_lines())
      say(fmt::format("mmlab: {} malformed line(s) in {}/cells.jsonl skipped (a killed run's half line)",
                      results_.skipped_lines(), results_.dir()),
          true);
    manifest_ = make_manifest(seed, in_matrix);
    if (all.size() < in_matrix)
      manifest_["repetitions"] = {
          {"matrix", m_.repetitions},
          {"run", 1},
          {"why", "deterministic (-icount): a configuration's repetitions are bit-identical, so each runs once"},
          {"verify", {{"configurations", verify_.size()}, {"every", kVerifyEvery}}}};
    results_.write_manifest(manifest_);
    write_file_atomic(results_.dir() + "/matrix.toml", text_);

    install_stop_handlers();
    start_ = monotonic_s();
    std::vector<Running> running;
    try {
      schedule(todo, running);
    } catch (const std::exception& e) {
      // A host error (a full disk, QEMU that will not start): the VMs go,
      // the cells so far stay, and the manifest says why if it still can.
      stop_all(running);
      manifest_["finished"] = now_iso8601();
      manifest_["interrupted"] = true;
      manifest_["interrupted_by"] = fmt::format("error: {}", e.what());
      write_file_atomic(results_.dir() + "/manifest.json",
                        json_text(manifest_, 2) + "\n");  // may fail too: the error says enough
      throw;
    }
    const bool interrupted = g_stop_signal != 0;
    stop_all(running);  // stopped: the VMs go, their cells are not recorded (a resume runs them)
    manifest_["finished"] = now_iso8601();
    manifest_["interrupted"] = interrupted;
    if (interrupted) manifest_["interrupted_by"] = g_stop_signal == SIGINT ? "SIGINT" : "SIGTERM";
    manifest_["cells_this_run"] = {{"ok", ok_}, {"not_ok", done_ - ok_}, {"not_run", total_ - done_}};
    manifest_["host_load"]["after"] = load_average();
    manifest_["placement"] = {{"jobs", jobs_}, {"pinned", pin_}, {"what", placement_}};
    results_.write_manifest(manifest_);
    say(fmt::format("mmlab: {} cell(s) run, {} ok, {} not ok{}; results in {}", done_, ok_, done_ - ok_,
                    interrupted ? fmt::format(", interrupted ({} not run: --resume runs them)", total_ - done_) : "",
                    results_.dir()),
        true);
    return (interrupted || ok_ != done_) ? 1 : 0;
  }

 private:
  // Whether the cells load the TLB-model plugin. Under KVM (auto chose
  // it) it is dropped: the PMU counts there. Otherwise a probe boot checks
  // that QEMU loads it with this geometry; if it does not, the run goes on
  // without it, and the manifest and every cell say why.
  void decide_tlb_model() {
    tlb_on_ = false;
    if (!tlb_requested_) return;
    if (m_.emulator == Emulator::kBochs) {
      tlb_why_ = "this matrix runs Bochs (emulator = \"bochs\"): the TLB model is a QEMU TCG plugin";
      return;
    }
    if (accel_.kvm) {
      tlb_why_ = fmt::format(
          "accel auto chose KVM ({}): the TLB model is a TCG plugin and sees nothing under KVM; the PMU's guest TLB "
          "events count instead (host_counters, measured)",
          accel_.reason);
      return;
    }
    const TlbProbe p = probe_tlb_plugin(paths_, m_.tlb_geometry);
    tlb_on_ = p.ok;
    tlb_why_ = p.ok ? p.why : fmt::format("{} does not work: {}", paths_.tlb_plugin, p.why);
    tlb_header_ = p.header;
  }

  // Runs TODO, at most jobs_ at a time, until done or a stop signal.
  void schedule(const std::vector<Cell>& todo, std::vector<Running>& running) {
    size_t next = 0;
    while ((next < todo.size() || !running.empty()) && !g_stop_signal) {
      while (running.size() < jobs_ && next < todo.size() && !g_stop_signal) {
        sample_host_load(running, true);  // the time so far is the running cells'; the new one starts here
        running.push_back(launch(todo[next++]));
      }
      sample_host_load(running);
      for (auto it = running.begin(); it != running.end();) {
        int status;
        struct rusage usage {};
        const pid_t r = ::wait4(it->pid, &status, WNOHANG, &usage);
        if (r == it->pid) {
          // Its CPU time leaves /proc with it: keep it among ours, or the next sample counts it as other work.
          reaped_cpu_seconds_ += static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                                 static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
          sample_host_load(running, true);  // its last part-interval is its own, not the next cell's
          finish(*it, it->killed ? -1 : (WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status)));
          it = running.erase(it);
          continue;
        }
        if (!it->killed && monotonic_s() - it->start > m_.timeout_s) {
          ::kill(it->pid, SIGKILL);
          it->killed = true;
        }
        ++it;
      }
      ::usleep(20000);
    }
  }

  // How many VMs at once, and on which host CPUs. Wall-clock cells never
  // share a host CPU unless asked (--oversubscribe): -j defaults to the host
  // CPUs over the largest vCPU count, each VM pinned to CPUs of its own. A
  // deterministic VM runs its vCPUs in turn on one host thread, and its time
  // counts instructions, so it takes one CPU and is not disturbed by load.
  void plan_placement(const std::vector<Cell>& todo) {
    host_cpus_ = static_cast<uint32_t>(::sysconf(_SC_NPROCESSORS_ONLN));
    max_vcpus_ = 1;
    for (const Cell& c : todo) max_vcpus_ = std::max(max_vcpus_, c.vcpus);
    slot_cpus_ = icount_ ? 1 : max_vcpus_;
    const uint32_t fit = std::max(1u, host_cpus_ / slot_cpus_);
    jobs_ = o_.jobs ? o_.jobs : fit;
    if (!icount_ && jobs_ > fit && !o_.oversubscribe)
      throw std::runtime_error(fmt::format(
          "-j {} with {}-vCPU cells needs {} host CPUs and this host has {}: the cells' wall-clock times would "
          "measure each other; use -j {}, or --oversubscribe to measure that on purpose",
          jobs_, max_vcpus_, jobs_ * max_vcpus_, host_cpus_, fit));
    pin_ = jobs_ * slot_cpus_ <= host_cpus_;
    oversubscribed_ = !icount_ && jobs_ * max_vcpus_ > host_cpus_;
    placement_ = pin_ ? fmt::format("pinned: each VM to its own {} host CPU(s) ({} x {} <= {} host CPUs)", slot_cpus_,
                                    jobs_, slot_cpus_, host_cpus_)
                      : fmt::format("unpinned: {} VMs x {} CPU(s) > {} host CPUs{}", jobs_, slot_cpus_, host_cpus_,
                                    o_.oversubscribe ? " (--oversubscribe)" : "");
    slots_.assign(jobs_, false);
  }

  // Why a cell's wall-clock time is not its own, or "" (deterministic cells
  // count instructions, which no load changes).
  std::string oversubscription(const Cell& c) const {
    if (icount_) return "";
    if (c.vcpus > host_cpus_)
      return fmt::format(
          "{} vCPUs on {} host CPUs: the vCPUs take turns, so this measures lock-holder preemption "
          "as much as the locks",
          c.vcpus, host_cpus_);
    if (oversubscribed_)
      return fmt::format("--oversubscribe: {} VMs of up to {} vCPUs shared {} host CPUs", jobs_, max_vcpus_,
                         host_cpus_);
    return "";
  }

  // CPU time the host spent on anything but this run's VMs and this process,
  // sampled twice a second and when a cell starts or ends, and shared out
  // over the cells running then: a cell whose others averaged more than
  // kBusyCpus was run on a busy host.
  // `now_too`: sample even within half a second of the last (a cell
  // starts or ends: its window is bounded by samples of its own).
  void sample_host_load(std::vector<Running>& running, bool now_too = false) {
    const double now = monotonic_s();
    if (!now_too && now - last_sample_ < 0.5) return;
    const double busy = host_busy_cpu_seconds();
    double ours = process_cpu_seconds(::getpid()) + reaped_cpu_seconds_;
    for (const Running& r : running) ours += process_cpu_seconds(r.pid);
    if (last_sample_ > 0 && !running.empty()) {
      const double others = std::max(0.0, (busy - last_busy_) - (ours - last_ours_));
      for (Running& r : running) r.others_cpu_seconds += others;
    }
    last_sample_ = now;
    last_busy_ = busy;
    last_ours_ = ours;
  }

  // A deterministic configuration run twice: its second cell must say what
  // its first said, to the count.
  void check_determinism(const Cell& c, const json& cell) {
    const std::string k = c.config_key();
    if (std::find(verify_.begin(), verify_.end(), k) == verify_.end() || cell["status"] != "ok") return;
    json exact = {{"metrics", cell["metrics"]}, {"guest_counters", cell["guest_counters"]}};
    if (cell.contains("tlb_model") && cell["tlb_model"].contains("counts"))
      exact["tlb_model"] = cell["tlb_model"]["counts"];
    if (cell.contains("leak")) exact["leak"] = cell["leak"];
    auto [it, first] = first_of_pair_.emplace(k, exact);
    if (first) return;
    json& check = manifest_["determinism_check"];
    if (check.is_null()) check = {{"compared", 0}, {"identical", 0}, {"differed", json::array()}};
    check["compared"] = check["compared"].get<int>() + 1;
    if (it->second == exact) {
      check["identical"] = check["identical"].get<int>() + 1;
    } else {
      check["differed"].push_back(k);
      say(fmt::format("mmlab: NOT deterministic: two runs of {} differ (the manifest lists it)", k), true);
    }
  }

  static void stop_all(std::vector<Running>& running) {
    for (Running& r : running) {
      ::kill(r.pid, SIGKILL);
      ::waitpid(r.pid, nullptr, 0);
    }
    running.clear();
  }

  void check_inputs() {
    for (const std::string& p : {paths_.mmlab_kernel, paths_.initrd})
      if (!std::filesystem::exists(p)) throw std::runtime_error(p + " is missing: run `make build` first");
    for (const Workload& w : m_.workloads)
      if (w.test_initrd && !std::filesystem::exists(paths_.test_initrd))
        throw std::runtime_error(paths_.test_initrd + " is missing: run `make build` first");
    for (Kernel k : m_.kernels)
      if (k == Kernel::kLinuxPae && !std::filesystem::exists(paths_.linux_kernel))
        throw std::runtime_error(paths_.linux_kernel + " is missing: `make build` fetches the Linux PAE kernel");
  }

  json make_manifest(uint64_t seed, size_t cells) {
    json j;
    j["schema"] = 1;
    j["name"] = m_.name;
    j["matrix_file"] = m_.file;
    j["matrix_fnv1a64"] = fnv1a64(text_);
    j["command_line"] = o_.command_line;
    j["started"] = now_iso8601();
    j["seed"] = seed;
    j["cells_in_matrix"] = cells;
    j["shard"] = {{"index", o_.shard_index}, {"count", o_.shard_count}};
    j["jobs"] = o_.jobs;
    const std::string src = MMLAB_SOURCE_DIR;
    const auto rev = capture({"git", "-C", src, "rev-parse", "HEAD"});
    const auto dirty = capture({"git", "-C", src, "status", "--porcelain", "--untracked-files=no"});
    j["git"] = {{"revision", rev ? trim(*rev) : "unknown"}, {"dirty", dirty ? !trim(*dirty).empty() : true}};
    j["toggle_table"] = toggle_table_json();
    j["kernel"] = {{"mmlab", {{"path", paths_.mmlab_kernel}, {"build_id", elf_build_id(paths_.mmlab_kernel)}}},
                   {"initrd", {{"path", paths_.initrd}, {"fnv1a64", fnv1a64_file(paths_.initrd)}}}};
    if (std::find(m_.kernels.begin(), m_.kernels.end(), Kernel::kLinuxPae) != m_.kernels.end())
      j["kernel"]["linux-pae"] = {{"path", paths_.linux_kernel},
                                  {"version", trim(read_file(paths_.linux_version).value_or("unknown"))},
                                  {"fnv1a64", fnv1a64_file(paths_.linux_kernel)}};
    const auto qv = capture({"qemu-system-i386", "--version"});
    j["qemu"] = qv ? trim(qv->substr(0, qv->find('\n'))) : "unknown";
    j["emulator"] = emulator_name(m_.emulator);
    if (m_.emulator == Emulator::kBochs) j["bochs"] = bochs_version();
    j["accel"] = {{"requested", accel_name(o_.accel.value_or(m_.accel))},
                  {"used", accel_used()},
                  {"why", accel_.reason},
                  {"deterministic", icount_}};
    struct utsname u;
    ::uname(&u);
    j["host"] = {{"cpu_model", host_cpu_model()},
                 {"cpus", ::sysconf(_SC_NPROCESSORS_ONLN)},
                 {"kernel", std::string(u.sysname) + " " + u.release},
                 {"hostname", u.nodename}};
    j["host_capabilities"] = host_capabilities();
    j["tlb_model"] = {{"requested", tlb_requested_},
                      {"requested_by", o_.tlb_model   ? (*o_.tlb_model ? "--tlb-model" : "--no-tlb-model")
                                       : m_.tlb_model ? fmt::format("{}:{}", m_.file, m_.tlb_model_line)
                                                      : "nothing (the matrix has no tlb_model = true)"},
                      {"loaded", tlb_on_}};
    if (tlb_requested_) {
      j["tlb_model"]["why"] = tlb_why_;
      j["tlb_model"]["plugin"] = paths_.tlb_plugin;
      j["tlb_model"]["geometry"] = m_.tlb_geometry;
      j["tlb_model"]["parameters"] = tlb_header_;  // the plugin's header: geometry, source, rules
      j["tlb_model"]["modelled"] = true;
    }
    j["oversubscribe"] = o_.oversubscribe;
    j["host_load"] = {{"before", load_average()}};
    j["interrupted"] = false;
    return j;
  }

  Running launch(const Cell& c) {
    Running r{.cell = c};
    r.id = fmt::format("c{:05}", c.index);
    r.dir = results_.cell_dir(r.id);
    const std::string& base_initrd = c.workload.test_initrd ? paths_.test_initrd : paths_.initrd;
    std::string initrd = base_initrd;
    if (!c.workload.binary.empty()) {
      initrd = fmt::format("{}/initrd-{}{}.cpio", results_.dir(), c.workload.test_initrd ? "tests-" : "",
                           fnv1a64_file(c.workload.binary));
      if (!std::filesystem::exists(initrd) &&
          !write_initrd_with(base_initrd, {{"/bin/" + base_name(c.workload.binary), c.workload.binary}}, initrd))
        throw std::runtime_error(fmt::format("cannot write {}: {}", initrd, std::strerror(errno)));
    }
    VmSpec s{.emulator = c.emulator,
             .kernel = c.kernel,
             .kvm = accel_.kvm,
             .icount = icount_,
             .vcpus = c.vcpus,
             .memory_mb = m_.memory_mb};
    s.toggles = c.toggles;
    s.kernel_args = c.kernel_args;
    if (c.workload.programs.empty())
      s.init_args.push_back(c.workload.binary.empty() ? c.workload.name : "/bin/" + c.workload.name);
    s.init_args.insert(s.init_args.end(), c.workload.args.begin(), c.workload.args.end());
    s.kernel_image = c.kernel == Kernel::kMmlab ? paths_.mmlab_kernel : paths_.linux_kernel;
    s.initrd = initrd;
    s.console_path = r.dir + "/console.log";
    s.records_path = r.dir + "/records.jsonl";
    if (tlb_on_) {
      s.tlb_model = true;
      s.tlb_plugin = paths_.tlb_plugin;
      s.tlb_args = m_.tlb_geometry;
      s.tlb_out_path = r.dir + "/tlb-model.jsonl";
    }
    std::vector<int> cpus;
    for (size_t i = 0; i < slots_.size(); ++i)
      if (!slots_[i]) {
        slots_[i] = true;
        r.slot = static_cast<int>(i);
        break;
      }
    if (pin_)
      for (uint32_t k = 0; k < slot_cpus_; ++k)
        cpus.push_back(r.slot * static_cast<int>(slot_cpus_) + static_cast<int>(k));
    r.load_before = load_average();
    r.started_at = now_iso8601();
    r.counters = std::make_unique<HostCounters>();
    r.start = monotonic_s();
    argv_[r.id] = emulator_argv(s, r.dir);
    specs_[r.id] = s;
    r.pid = spawn(argv_[r.id], r.dir + "/qemu.log", cpus, [&](pid_t pid) { r.counters->open(pid, accel_.kvm); });
    if (r.pid < 0)
      throw std::runtime_error(fmt::format("cannot start {}: {}", emulator_name(s.emulator), std::strerror(errno)));
    return r;
  }

  void finish(Running& r, int emulator_exit) {
    const double duration = monotonic_s() - r.start;
    results_.require_space(ResultSet::kMinFreeToRecord,
                           fmt::format("{} ended with its output possibly cut short, so it is not recorded; the cells "
                                       "before it are kept: free space, then rerun with --resume",
                                       r.id));
    if (r.slot >= 0) slots_[r.slot] = false;
    const Cell& c = r.cell;
    const std::string console = read_file(r.dir + "/console.log").value_or("");
    const std::string records = read_file(r.dir + "/records.jsonl").value_or("");
    // Under Bochs the verdict is the guest's exit record (bochs.h); the ISO goes.
    const VmSpec spec = specs_[r.id];
    specs_.erase(r.id);
    const int qemu_exit = verdict_exit_status(spec, emulator_exit, records);
    if (spec.emulator == Emulator::kBochs) bochs_cleanup(r.dir);
    std::optional<std::string> tlb_output;
    if (tlb_on_) tlb_output = read_file(r.dir + "/tlb-model.jsonl").value_or("");
    GuestOutcome g = interpret_guest(c.kernel, qemu_exit, icount_, console, records, init_run(c.workload), m_.timeout_s,
                                     tlb_output, tlb_on_ ? read_file(r.dir + "/qemu.log").value_or("") : "");
    if (spec.emulator == Emulator::kBochs && g.reason.rfind("QEMU exited", 0) == 0)
      g.reason = fmt::format("Bochs exited {} without the kernel's exit record: no verdict", emulator_exit);
    json cell;
    cell["schema"] = 1;
    cell["id"] = r.id;
    cell["key"] = c.key();
    cell["kernel"] = kernel_name(c.kernel);
    cell["toggles"] = c.toggles;
    cell["workload"] = {{"name", c.workload.name}, {"args", c.workload.args}};
    if (!c.workload.binary.empty()) cell["workload"]["binary"] = c.workload.binary;
    if (!c.workload.programs.empty()) cell["workload"]["programs"] = c.workload.programs;
    if (c.workload.test_initrd) cell["workload"]["initrd"] = "tests";
    if (c.workload.survive) cell["workload"]["expect"] = "survive";
    if (!c.kernel_args.empty()) cell["kernel_args"] = c.kernel_args;
    if (c.seeded) cell["seed"] = combination_index(c.toggles) + 1;
    cell["vcpus"] = c.vcpus;
    cell["rep"] = c.rep;
    cell["emulator"] = emulator_name(c.emulator);
    cell["accel"] = accel_used();
    cell["deterministic"] = icount_;
    cell["time_unit"] = g.time_unit;
    cell["status"] = g.status;
    if (g.status != "ok") {
      cell["reason"] = g.reason;
      cell["console_tail"] = console_tail(console, 30);
    }
    cell["metrics"] = g.metrics;
    cell["init"] = g.init;
    cell["guest_counters"] = g.guest_counters;
    if (!g.boot.is_null()) cell["guest_boot"] = g.boot;
    if (!g.leak.is_null()) cell["leak"] = g.leak;
    if (!g.panic.is_null()) cell["panic"] = g.panic;
    if (tlb_on_)
      cell["tlb_model"] = g.tlb_model;
    else if (tlb_requested_)
      cell["tlb_model"] = tlb_unavailable(tlb_why_);
    if (!c.workload.programs.empty()) cell["init_all"] = g.init_all;
    if (!g.shutdown.is_null()) cell["shutdown_counters"] = g.shutdown;
    if (!g.survived.is_null()) cell["survived"] = g.survived;
    if (!g.survival.empty()) cell["survival"] = g.survival;
    json host = r.counters->read();
    host["papi"] = {{"unavailable", manifest_["host_capabilities"]["papi"]["available"].get<bool>()
                                        ? "PAPI has counters here, but the loader counts through perf_event directly "
                                          "(the same counters)"
                                        : manifest_["host_capabilities"]["papi"]["detail"].get<std::string>()}};
    cell["host_counters"] = host;
    cell["qemu_exit"] = qemu_exit;
    if (c.emulator == Emulator::kBochs) cell["emulator_exit"] = emulator_exit;
    cell["qemu_command"] = argv_[r.id];
    argv_.erase(r.id);
    cell["console"] = fmt::format("cells/{}/console.log", r.id);
    cell["started"] = r.started_at;
    cell["duration_s"] = duration;
    cell["host_load"] = {{"before", r.load_before}, {"after", load_average()}};
    const double others = duration > 0 ? r.others_cpu_seconds / duration : 0;
    cell["host_others_cpus"] = others;
    if (others > kBusyCpus)
      cell["host_busy"] = fmt::format("other work used {:.2f} host CPUs on average while this cell ran", others);
    cell["placement"] = placement_;
    if (const std::string why = oversubscription(c); !why.empty()) cell["oversubscribed"] = why;
    results_.append(cell);
    check_determinism(c, cell);
    ++done_;
    if (g.status == "ok") ++ok_;
    progress(r.id, c, g);
  }

  // What /init runs for `w`: the names its snapshots carry (init labels a program by its file name).
  static InitRun init_run(const Workload& w) {
    InitRun run{.expect_result = w.binary.empty() && w.programs.empty(), .survive = w.survive};
    if (w.programs.empty()) run.programs.push_back(w.name);
    for (const std::vector<std::string>& p : w.programs) run.programs.push_back(base_name(p.front()));
    return run;
  }

  void progress(const std::string& id, const Cell& c, const GuestOutcome& g) {
    const double elapsed = monotonic_s() - start_;
    const double eta = done_ ? elapsed / done_ * (total_ - done_) : 0;
    const std::string line = fmt::format("mmlab: [{}/{}] {} ok, {} not ok | elapsed {} | ETA {}", done_, total_, ok_,
                                         done_ - ok_, fmt_duration(elapsed), fmt_duration(eta));
    if (g.status != "ok")
      say(fmt::format("mmlab: {} {} ({} {}): {}: {}", id, g.status, kernel_name(c.kernel), c.workload.name, g.status,
                      g.reason.substr(0, 300)),
          true);
    say(line, false);
  }

  // Progress goes to stderr; --quiet keeps only what `always` marks.
  void say(const std::string& s, bool always) const {
    if (o_.quiet && !always) return;
    fmt::print(stderr, "{}\n", s);
  }

  const Matrix& m_;
  const std::string& text_;
  const RunOptions& o_;
  GuestPaths paths_;
  ResultSet results_;
  AccelChoice accel_;
  std::map<std::string, VmSpec> specs_;  // of the running cells, by id
  // What ran the cells: kvm, tcg, or bochs (an emulator without an accel;
  // the analysis never pools cells of different accels).
  std::string accel_used() const { return m_.emulator == Emulator::kBochs ? "bochs" : accel_.kvm ? "kvm" : "tcg"; }
  bool icount_ = false;
  bool tlb_requested_ = false, tlb_on_ = false;  // the TLB model: asked for, and loaded into the cells
  std::string tlb_why_;
  json tlb_header_;
  static constexpr double kBusyCpus = 0.25;  // other work above this many host CPUs flags a cell
  bool pin_ = false, oversubscribed_ = false;
  uint32_t jobs_ = 1, max_vcpus_ = 1, slot_cpus_ = 1, host_cpus_ = 1;
  std::vector<std::string> verify_;
  std::map<std::string, json> first_of_pair_;
  double last_sample_ = 0, last_busy_ = 0, last_ours_ = 0;
  double reaped_cpu_seconds_ = 0;  // the finished VMs' CPU time, from wait4
  std::vector<bool> slots_;
  std::string placement_;
  json manifest_;
  std::map<std::string, std::vector<std::string>> argv_;
  uint32_t total_ = 0, done_ = 0, ok_ = 0;
  double start_ = 0;
};

}  // namespace

int run_matrix(const Matrix& m, const std::string& matrix_text, const RunOptions& o) {
  // Before the output directory is touched: the model under KVM cannot work.
  if (o.tlb_model.value_or(m.tlb_model) && o.accel.value_or(m.accel) == Accel::kKvm)
    throw std::runtime_error(fmt::format(
        "the TLB model ({}) with accel kvm ({}): the model is a QEMU TCG plugin, and under KVM the guest runs on "
        "the host CPU where no plugin sees it; use --accel tcg or auto, or --no-tlb-model (under KVM the PMU's "
        "guest TLB events count instead)",
        o.tlb_model ? "--tlb-model" : fmt::format("{}:{}: tlb_model = true", m.file, m.tlb_model_line),
        o.accel ? "--accel kvm" : "the matrix's accel"));
  Runner r(m, matrix_text, o);
  return r.run();
}

}  // namespace mmlab
