// Small helpers the loader's parts share: strings, files, processes, time.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace mmlab {

std::string join(const std::vector<std::string>& parts, const std::string& sep);
std::string base_name(const std::string& path);
std::string trim(const std::string& s);

// Empty when `path` is a static i386 ELF executable (ET_EXEC, or ET_DYN
// without PT_INTERP: static-pie); else why not.
std::string check_static_i386(const std::string& path);

std::optional<std::string> read_file(const std::string& path);
// Writes via a temporary file and rename: readers see the old or the new
// content, never a part. False with errno set on failure.
bool write_file_atomic(const std::string& path, const std::string& content);
// FNV-1a 64 of a file's bytes, as 16 hex digits ("" if unreadable): a
// build identity for files that carry none of their own (initrds).
std::string fnv1a64_file(const std::string& path);
std::string fnv1a64(const std::string& bytes);
// The GNU build-id note of an ELF file, as hex ("" if none).
std::string elf_build_id(const std::string& path);

// Runs argv (no shell) and returns its stdout, or nullopt if it could not run
// or exited non-zero.
std::optional<std::string> capture(const std::vector<std::string>& argv);

// One JSON value on one line. Text from a guest may hold any bytes: invalid
// UTF-8 becomes U+FFFD instead of an exception (nlohmann's default).
std::string json_line(const nlohmann::json& j);
// The same, indented.
std::string json_text(const nlohmann::json& j, int indent);

// Fields of JSON from a guest (or a plugin), which may hold anything: a
// field that is missing or of the wrong type reads as the default
// (nlohmann's value() would throw; the fuzzer found that).
std::string str_of(const nlohmann::json& j, const char* key, const std::string& otherwise = "");
int64_t int_of(const nlohmann::json& j, const char* key, int64_t otherwise);
bool bool_of(const nlohmann::json& j, const char* key, bool otherwise);

std::string now_iso8601();
double monotonic_s();
// /proc/loadavg's three averages.
std::vector<double> load_average();
// CPU time the whole host has spent busy (all CPUs, /proc/stat: everything
// but idle and iowait), and that a process has used (/proc/PID/stat utime +
// stime, children excluded), in seconds; 0 when unreadable.
double host_busy_cpu_seconds();
double process_cpu_seconds(int pid);

}  // namespace mmlab
