// CpioReader on hand-built newc archives (valid, each rejection, every
// truncation, every single-byte corruption) and on archives made by GNU
// cpio and by scripts/mkinitrd.py; the cpio writer against mkinitrd.py and
// the reader. Inputs live in exactly sized heap buffers, so a read past the
// end is a heap overflow ASan reports.
#include "formats/cpio.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "formats/cpio_writer.h"
#include "test_files.h"

namespace {

using Bytes = std::vector<uint8_t>;

// One newc entry. The fields default to what the name and data imply;
// tests override them to build bad archives.
struct Entry {
  std::string name;
  uint32_t mode = 0100644;
  std::string data;
  const char* magic = "070701";
  int64_t namesize = -1;  // -1: name.size() + 1
  int64_t filesize = -1;  // -1: data.size()
  bool nul = true;        // store the name's NUL
  bool pad_data = true;
};

void append(Bytes* out, const std::string& s) { out->insert(out->end(), s.begin(), s.end()); }
void pad4(Bytes* out) {
  while (out->size() % 4) out->push_back(0);
}

void add(Bytes* out, const Entry& e) {
  const auto namesize = static_cast<uint32_t>(e.namesize >= 0 ? e.namesize : int64_t(e.name.size()) + 1);
  const auto filesize = static_cast<uint32_t>(e.filesize >= 0 ? e.filesize : int64_t(e.data.size()));
  char h[128];
  std::snprintf(h, sizeof(h), "%s%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X", e.magic, 1u, e.mode, 0u, 0u, 1u,
                0u, filesize, 0u, 0u, 0u, 0u, namesize, 0u);
  append(out, std::string(h, 110));
  append(out, e.name);
  if (e.nul) out->push_back(0);
  pad4(out);
  append(out, e.data);
  if (e.pad_data) pad4(out);
}

void add_trailer(Bytes* out) { add(out, Entry{.name = "TRAILER!!!", .mode = 0}); }

Bytes archive(const std::vector<Entry>& entries, bool trailer = true) {
  Bytes out;
  for (const Entry& e : entries) add(&out, e);
  if (trailer) add_trailer(&out);
  return out;
}

struct Read {
  std::string name;
  uint32_t mode;
  std::string data;
};

// Reads to the end; checks that every entry lies in the buffer.
std::vector<Read> read_all(const Bytes& a, const char** error = nullptr) {
  formats::CpioReader r(a.data(), static_cast<uint32_t>(a.size()));
  std::vector<Read> out;
  formats::CpioEntry e;
  while (r.next(&e)) {
    EXPECT_GE(reinterpret_cast<const uint8_t*>(e.name), a.data());
    EXPECT_LE(reinterpret_cast<const uint8_t*>(e.name) + e.name_len, a.data() + a.size());
    EXPECT_EQ(e.name[e.name_len], 0);
    EXPECT_GE(e.data, a.data());
    EXPECT_LE(e.data + e.size, a.data() + a.size());
    out.push_back(
        Read{std::string(e.name, e.name_len), e.mode, std::string(reinterpret_cast<const char*>(e.data), e.size)});
    if (out.size() > a.size()) break;  // no progress: fail below rather than loop forever
  }
  EXPECT_LE(out.size(), a.size());
  EXPECT_LE(r.offset(), a.size());
  EXPECT_FALSE(r.next(&e)) << "false is final";
  if (error) *error = r.error();
  return out;
}

// The error of the first entry of a one-entry archive (or "" if none).
std::string first_error(const Bytes& a) {
  const char* err = nullptr;
  read_all(a, &err);
  return err ? err : "";
}

TEST(CpioReader, ReadsDirFileSymlinkAndStopsAtTrailer) {
  const Bytes a = archive({{.name = ".", .mode = 040755},
                           {.name = "bin", .mode = 040755},
                           {.name = "./bin/sh", .mode = 0100755, .data = "#!x"},
                           {.name = "/etc/motd", .data = "hello\n"},
                           {.name = "bin/ls", .mode = 0120777, .data = "sh"},
                           {.name = "empty"}});
  const char* err = "unset";
  const std::vector<Read> got = read_all(a, &err);
  EXPECT_EQ(err, nullptr);
  ASSERT_EQ(got.size(), 6u);
  EXPECT_EQ(got[0].name, ".");
  EXPECT_EQ(got[1].name, "bin");
  EXPECT_TRUE(formats::cpio_is_dir(got[1].mode));
  EXPECT_EQ(got[2].name, "bin/sh");
  EXPECT_TRUE(formats::cpio_is_reg(got[2].mode));
  EXPECT_EQ(got[2].mode & 07777, 0755u);
  EXPECT_EQ(got[2].data, "#!x");
  EXPECT_EQ(got[3].name, "etc/motd");
  EXPECT_EQ(got[3].data, "hello\n");
  EXPECT_EQ(got[4].name, "bin/ls");
  EXPECT_TRUE(formats::cpio_is_symlink(got[4].mode));
  EXPECT_EQ(got[4].data, "sh");
  EXPECT_EQ(got[5].name, "empty");
  EXPECT_EQ(got[5].data, "");
}

TEST(CpioReader, ModeHelpers) {
  EXPECT_TRUE(formats::cpio_is_dir(040700));
  EXPECT_FALSE(formats::cpio_is_dir(0100755));
  EXPECT_TRUE(formats::cpio_is_reg(0100000));
  EXPECT_FALSE(formats::cpio_is_reg(0120777));
  EXPECT_TRUE(formats::cpio_is_symlink(0120777));
  EXPECT_FALSE(formats::cpio_is_symlink(0140777));  // a socket shares bits with both
  EXPECT_FALSE(formats::cpio_is_reg(0140777));
  EXPECT_FALSE(formats::cpio_is_dir(020666));  // a character device
}

TEST(CpioReader, OffsetIsAfterTheTrailer) {
  const Bytes a = archive({{.name = "a", .data = "12345"}});
  formats::CpioReader r(a.data(), static_cast<uint32_t>(a.size()));
  formats::CpioEntry e;
  EXPECT_EQ(r.offset(), 0u);
  ASSERT_TRUE(r.next(&e));
  EXPECT_EQ(r.offset(), 112u + 8u);  // 110 + "a\0" = 112, then 5 bytes padded to 8
  EXPECT_FALSE(r.next(&e));
  EXPECT_EQ(r.error(), nullptr);
  EXPECT_EQ(r.offset(), a.size());
}

TEST(CpioReader, AcceptsTheCrcVariantAndLowercaseHex) {
  Bytes a = archive({{.name = "f", .data = "x", .magic = "070702"}});
  EXPECT_EQ(read_all(a).size(), 1u);
  // Mode 0100644 is "000081A4": make the hex digits lowercase.
  const std::string upper = "000081A4";
  auto it = std::search(a.begin(), a.end(), upper.begin(), upper.end());
  ASSERT_NE(it, a.end());
  it[6] = 'a';
  const std::vector<Read> got = read_all(a);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].mode, 0100644u);
}

TEST(CpioReader, StripsEveryLeadingDotSlashAndSlash) {
  const std::vector<Read> got =
      read_all(archive({{.name = "././/a/./b"}, {.name = "/"}, {.name = "./"}, {.name = ".."}}));
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].name, "a/./b");  // only the leading ones
  EXPECT_EQ(got[1].name, "");
  EXPECT_EQ(got[2].name, "");
  EXPECT_EQ(got[3].name, "..");  // the reader strips; judging paths is the fs's job
}

TEST(CpioReader, EndsCleanlyWithoutATrailer) {
  const char* err = "unset";
  EXPECT_EQ(read_all(archive({{.name = "a", .data = "1"}}, /*trailer=*/false), &err).size(), 1u);
  EXPECT_EQ(err, nullptr);
  EXPECT_EQ(read_all(Bytes{}, &err).size(), 0u);
  EXPECT_EQ(err, nullptr);
  formats::CpioReader r(nullptr, 0);
  formats::CpioEntry e;
  EXPECT_FALSE(r.next(&e));
  EXPECT_EQ(r.error(), nullptr);
}

TEST(CpioReader, TheLastEntryMayLackItsDataPadding) {
  const Bytes a = archive({{.name = "a", .data = "12345", .pad_data = false}}, /*trailer=*/false);
  ASSERT_EQ(a.size() % 4, 1u);
  const char* err = "unset";
  const std::vector<Read> got = read_all(a, &err);
  EXPECT_EQ(err, nullptr);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].data, "12345");
}

TEST(CpioReader, IgnoresEverythingAfterTheTrailer) {
  Bytes a = archive({{.name = "a"}});
  a.resize(a.size() + 512, 0);
  a.push_back('X');  // not even a header
  const char* err = "unset";
  EXPECT_EQ(read_all(a, &err).size(), 1u);
  EXPECT_EQ(err, nullptr);
}

// As Linux's initramfs: a second archive after the first one's trailer
// (and NUL padding, as GNU cpio leaves) is read too; the loader appends a
// user's binary to the workload initrd that way.
TEST(CpioReader, ReadsConcatenatedArchives) {
  Bytes a = archive({{.name = "a", .data = "1"}, {.name = "b", .data = "old"}});
  a.resize(a.size() + 512, 0);
  const Bytes second = archive({{.name = "b", .data = "new"}, {.name = "c", .data = "3"}});
  a.insert(a.end(), second.begin(), second.end());
  const char* err = "unset";
  const std::vector<Read> got = read_all(a, &err);
  EXPECT_EQ(err, nullptr);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].name + got[1].name + got[2].name + got[3].name, "abbc");
  EXPECT_EQ(got[2].data, "new");  // the file system keeps the later entry
}

TEST(CpioReader, ATrailerNameMustMatchExactly) {
  const std::vector<Read> got = read_all(archive({{.name = "TRAILER!!"}, {.name = "TRAILER!!!x"}, {.name = "b"}}));
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].name, "TRAILER!!");
  EXPECT_EQ(got[1].name, "TRAILER!!!x");
}

TEST(CpioReader, RejectsEachProblemByName) {
  EXPECT_EQ(first_error(archive({{.name = "a", .magic = "070707"}})), "cpio: bad magic (not newc 070701/070702)");
  EXPECT_EQ(first_error(Bytes{'0', '7', '0'}), "cpio: truncated header");
  EXPECT_EQ(first_error(Bytes{'0', '7', '0', '7', '0', '1', '0'}), "cpio: truncated header");
  EXPECT_EQ(first_error(archive({{.name = "a", .namesize = 0}})), "cpio: namesize 0 (the name needs at least its NUL)");
  EXPECT_EQ(first_error(archive({{.name = "a", .namesize = 0x10000}})), "cpio: name runs past the end of the archive");
  EXPECT_EQ(first_error(archive({{.name = "a", .namesize = 0xFFFFFFFF}})),
            "cpio: name runs past the end of the archive");
  // namesize counts one byte fewer than stored: its last byte is 'b'.
  EXPECT_EQ(first_error(archive({{.name = "ab", .namesize = 2}})), "cpio: name not NUL-terminated");
  EXPECT_EQ(first_error(archive({{.name = std::string("a\0b", 3)}})), "cpio: NUL inside the name");
  EXPECT_EQ(first_error(archive({{.name = "a", .data = "xy", .filesize = 0x1000}})),
            "cpio: file data runs past the end of the archive");
  EXPECT_EQ(first_error(archive({{.name = "a", .filesize = 0xFFFFFFFF}})),
            "cpio: file data runs past the end of the archive");
  // Header + "ab\0" is 113 bytes; its padding would run to 116.
  Bytes a = archive({{.name = "ab"}}, /*trailer=*/false);
  a.resize(113);
  EXPECT_EQ(first_error(a), "cpio: name padding runs past the end of the archive");
}

TEST(CpioReader, RejectsANonHexDigitInEveryField) {
  for (uint32_t field = 0; field < 13; ++field) {
    for (const char bad : {'g', 'G', ' ', '\0', 'x', '-'}) {
      Bytes a = archive({{.name = "a", .data = "1"}});
      a[6 + 8 * field + 3] = static_cast<uint8_t>(bad);
      EXPECT_EQ(first_error(a), "cpio: non-hex digit in a header field") << "field " << field << " '" << bad << "'";
    }
  }
}

TEST(CpioReader, AnErrorIsFinalAndOffsetPointsAtTheBadHeader) {
  Bytes a = archive({{.name = "good", .data = "1"}}, /*trailer=*/false);
  const size_t second = a.size();
  add(&a, Entry{.name = "bad", .magic = "123456"});
  formats::CpioReader r(a.data(), static_cast<uint32_t>(a.size()));
  formats::CpioEntry e;
  ASSERT_TRUE(r.next(&e));
  EXPECT_EQ(std::string(e.name, e.name_len), "good");
  EXPECT_FALSE(r.next(&e));
  ASSERT_NE(r.error(), nullptr);
  EXPECT_EQ(r.offset(), second);
  EXPECT_FALSE(r.next(&e));
  EXPECT_EQ(r.offset(), second);
}

Bytes sample() {
  return archive({{.name = "bin", .mode = 040755},
                  {.name = "./bin/sh", .mode = 0100755, .data = "#!x"},
                  {.name = "bin/ls", .mode = 0120777, .data = "sh"},
                  {.name = "data", .data = "hello\n"},
                  {.name = "e"}});
}

// Every prefix: a clean end or an error, never a crash or a read past the
// end, and the entries read are the first entries of the whole archive.
TEST(CpioReader, EveryTruncationEndsCleanlyOrWithAnError) {
  const Bytes full = sample();
  const std::vector<Read> all = read_all(full);
  ASSERT_EQ(all.size(), 5u);
  int clean = 0;
  for (size_t n = 0; n < full.size(); ++n) {
    const Bytes a(full.begin(), full.begin() + static_cast<ptrdiff_t>(n));
    const char* err = nullptr;
    const std::vector<Read> got = read_all(a, &err);
    ASSERT_LE(got.size(), all.size()) << n;
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].name, all[i].name) << n;
      EXPECT_EQ(got[i].mode, all[i].mode) << n;
      // A truncated last file is an error, never a shorter file.
      EXPECT_EQ(got[i].data, all[i].data) << n;
    }
    if (!err) ++clean;
  }
  // Clean ends: the empty prefix, the one ending at each entry's end, and
  // those within the data padding of an entry (3 + 2 + 2 bytes short).
  EXPECT_EQ(clean, 1 + 5 + 1 + 2 + 2);
}

// Every byte replaced by a few values: no crash, no read past the end.
TEST(CpioReader, EverySingleByteCorruptionIsSafe) {
  const Bytes full = sample();
  for (size_t i = 0; i < full.size(); ++i) {
    for (const uint8_t v : {0x00, 0x30, 0x46, 0x66, 0x7F, 0xFF}) {
      Bytes a = full;
      a[i] = v;
      read_all(a);
    }
  }
}

using formats_test::read_file;

TEST(CpioReader, ReadsAnArchiveMadeByGnuCpio) {
  const Bytes a = read_file(MMLAB_TEST_GNU_CPIO);
  ASSERT_EQ(a.size() % 512, 0u) << "GNU cpio pads to 512-byte blocks";
  const char* err = "unset";
  std::map<std::string, Read> got;
  for (const Read& r : read_all(a, &err)) got[r.name] = r;
  EXPECT_EQ(err, nullptr);
  ASSERT_EQ(got.size(), 6u);  // ".", dir, dir/hello.txt, dir/link, dir/sub, empty
  EXPECT_TRUE(formats::cpio_is_dir(got["."].mode));
  EXPECT_TRUE(formats::cpio_is_dir(got["dir"].mode));
  EXPECT_TRUE(formats::cpio_is_dir(got["dir/sub"].mode));
  EXPECT_TRUE(formats::cpio_is_reg(got["dir/hello.txt"].mode));
  EXPECT_EQ(got["dir/hello.txt"].data, "hello\n");
  EXPECT_TRUE(formats::cpio_is_symlink(got["dir/link"].mode));
  EXPECT_EQ(got["dir/link"].data, "hello.txt");
  EXPECT_TRUE(formats::cpio_is_reg(got["empty"].mode));
  EXPECT_EQ(got["empty"].data, "");
}

TEST(CpioReader, ReadsAnArchiveMadeByMkinitrd) {
  const Bytes a = read_file(MMLAB_TEST_MKINITRD_CPIO);
  const Bytes hello = read_file(MMLAB_TEST_STATIC_BINARY);
  const char* err = "unset";
  const std::vector<Read> got = read_all(a, &err);
  EXPECT_EQ(err, nullptr);
  std::vector<std::string> names;
  for (const Read& r : got) names.push_back(r.name);
  EXPECT_EQ(names, (std::vector<std::string>{"bin", "bin/hello", "etc", "etc/dir", "etc/dir/hello.txt"}));
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(got[1].mode, 0100755u);
  EXPECT_EQ(got[1].data, std::string(hello.begin(), hello.end()));
  EXPECT_EQ(got[4].data, "hello\n");
}

// The writer and scripts/mkinitrd.py write the same bytes for the same
// entries (modes as mkinitrd.py chose them from the host files).
TEST(CpioWriter, WritesWhatMkinitrdWrites) {
  const Bytes a = read_file(MMLAB_TEST_MKINITRD_CPIO);
  const Bytes hello = read_file(MMLAB_TEST_STATIC_BINARY);
  const std::vector<Read> got = read_all(a);
  ASSERT_EQ(got.size(), 5u);
  std::string w;
  formats::cpio_append(&w, "bin", 040755, "", 1);
  formats::cpio_append(&w, "bin/hello", got[1].mode, std::string(hello.begin(), hello.end()), 2);
  formats::cpio_append(&w, "etc", 040755, "", 3);
  formats::cpio_append(&w, "etc/dir", 040755, "", 4);
  formats::cpio_append(&w, "etc/dir/hello.txt", got[4].mode, "hello\n", 5);
  formats::cpio_append_trailer(&w);
  EXPECT_EQ(w, std::string(a.begin(), a.end()));
}

// Names and data of every length modulo 4 read back as written, appended
// after another archive as the loader does.
TEST(CpioWriter, EveryPaddingReadsBack) {
  std::string w;
  formats::cpio_append(&w, "first", 0100644, "1", 1);
  formats::cpio_append_trailer(&w);
  w.resize(512, '\0');
  std::vector<Read> want = {{"first", 0100644, "1"}};
  uint32_t ino = 2;
  for (const std::string name : {"a", "ab", "abc", "abcd"}) {
    for (const std::string data : {"", "x", "xy", "xyz", "wxyz"}) {
      want.push_back({name + "/" + std::to_string(data.size()), 0100755, data});
      formats::cpio_append(&w, want.back().name, 0100755, data, ino++);
    }
  }
  formats::cpio_append(&w, "dir", 040755, "", ino);
  want.push_back({"dir", 040755, ""});
  formats::cpio_append_trailer(&w);
  const char* err = "unset";
  const std::vector<Read> got = read_all(Bytes(w.begin(), w.end()), &err);
  EXPECT_EQ(err, nullptr);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].name, want[i].name);
    EXPECT_EQ(got[i].mode, want[i].mode);
    EXPECT_EQ(got[i].data, want[i].data);
  }
}

}  // namespace
