// The parsers of lib/formats on hosted builds: valid input, each class of bad
// input, and every truncation of a valid input (no crash, no read past the
// end: the buffers are exactly sized, so ASan/valgrind would see it).
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "formats/cmdline.h"
#include "formats/cpio.h"
#include "formats/cpio_writer.h"
#include "formats/elf.h"
#include "test_files.h"

namespace {

std::string sample_archive() {
  std::string a;
  formats::cpio_append(&a, "bin", 040755, "", 1);
  formats::cpio_append(&a, "./bin/sh", 0100755, "#!x", 1);
  formats::cpio_append(&a, "data", 0100644, "hello\n", 1);
  formats::cpio_append_trailer(&a);
  return a;
}

TEST(Cpio, ReadsEntriesAndStopsAtTrailer) {
  const std::string a = sample_archive();
  std::vector<uint8_t> buf(a.begin(), a.end());
  formats::CpioReader r(buf.data(), static_cast<uint32_t>(buf.size()));
  formats::CpioEntry e;
  ASSERT_TRUE(r.next(&e));
  EXPECT_EQ(std::string(e.name, e.name_len), "bin");
  EXPECT_TRUE(formats::cpio_is_dir(e.mode));
  ASSERT_TRUE(r.next(&e));
  EXPECT_EQ(std::string(e.name, e.name_len), "bin/sh");  // "./" stripped
  EXPECT_TRUE(formats::cpio_is_reg(e.mode));
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(e.data), e.size), "#!x");
  ASSERT_TRUE(r.next(&e));
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(e.data), e.size), "hello\n");
  EXPECT_FALSE(r.next(&e));
  EXPECT_EQ(r.error(), nullptr);
}

TEST(Cpio, RejectsBadMagicAndNonHex) {
  std::string a = sample_archive();
  a[0] = 'X';
  std::vector<uint8_t> buf(a.begin(), a.end());
  formats::CpioReader r(buf.data(), static_cast<uint32_t>(buf.size()));
  formats::CpioEntry e;
  EXPECT_FALSE(r.next(&e));
  ASSERT_NE(r.error(), nullptr);
  EXPECT_NE(std::string(r.error()).find("magic"), std::string::npos);
  a = sample_archive();
  a[20] = 'g';
  buf.assign(a.begin(), a.end());
  formats::CpioReader r2(buf.data(), static_cast<uint32_t>(buf.size()));
  EXPECT_FALSE(r2.next(&e));
  EXPECT_NE(std::string(r2.error()).find("hex"), std::string::npos);
}

TEST(Cpio, EveryTruncationEndsCleanlyOrWithAnError) {
  const std::string a = sample_archive();
  for (size_t n = 0; n < a.size(); ++n) {
    std::vector<uint8_t> buf(a.begin(), a.begin() + static_cast<long>(n));
    formats::CpioReader r(buf.data(), static_cast<uint32_t>(n));
    formats::CpioEntry e;
    int entries = 0;
    while (r.next(&e)) {
      ASSERT_LE(e.data + e.size, buf.data() + n);
      ASSERT_LT(++entries, 5);
    }
  }
}

using formats_test::read_file;

TEST(Elf, ParsesARealStaticI386Binary) {
  const std::vector<uint8_t> bin = read_file(MMLAB_TEST_STATIC_BINARY);
  ASSERT_GT(bin.size(), 1000u) << MMLAB_TEST_STATIC_BINARY;
  formats::ElfImage img;
  const char* err = formats::elf_parse(bin.data(), static_cast<uint32_t>(bin.size()), 0xC0000000u, &img);
  ASSERT_EQ(err, nullptr) << err;
  EXPECT_FALSE(img.pie);
  EXPECT_GE(img.nsegs, 2u);
  EXPECT_NE(img.phdr_vaddr, 0u);
  EXPECT_EQ(img.phent, 32u);
  bool exec = false;
  for (uint32_t i = 0; i < img.nsegs; ++i) {
    exec |= img.segs[i].exec;
    EXPECT_LE(img.segs[i].filesz, img.segs[i].memsz);
    if (i) {
      EXPECT_GE(img.segs[i].vaddr, img.segs[i - 1].vaddr + img.segs[i - 1].memsz);
    }
  }
  EXPECT_TRUE(exec);
}

TEST(Elf, RejectsWithAReason) {
  std::vector<uint8_t> bin = read_file(MMLAB_TEST_STATIC_BINARY);
  formats::ElfImage img;
  auto why = [&](std::vector<uint8_t> b, uint32_t limit = 0xC0000000u) {
    const char* e = formats::elf_parse(b.data(), static_cast<uint32_t>(b.size()), limit, &img);
    return std::string(e ? e : "");
  };
  EXPECT_EQ(why({'a', 'b'}), "not an ELF file");
  std::vector<uint8_t> b = bin;
  b[4] = 2;
  EXPECT_EQ(why(b), "not ELF32");
  b = bin;
  b[18] = 62;  // EM_X86_64
  EXPECT_EQ(why(b), "not i386 (e_machine)");
  EXPECT_EQ(why(bin, 0x08000000u), "segment wraps or reaches the kernel (>= limit)");
}

TEST(Elf, EveryTruncationIsRejectedNotCrashed) {
  const std::vector<uint8_t> bin = read_file(MMLAB_TEST_STATIC_BINARY);
  formats::ElfImage img;
  // Headers and the first segment's start: every prefix length up to 4 KiB.
  for (size_t n = 0; n < 4096 && n < bin.size(); ++n) {
    std::vector<uint8_t> b(bin.begin(), bin.begin() + static_cast<long>(n));
    EXPECT_NE(formats::elf_parse(b.data(), static_cast<uint32_t>(n), 0xC0000000u, &img), nullptr) << n;
  }
}

formats::BootArgs parse(const char* line) {
  static char buf[512];
  static const char* words[64];
  const char* err = nullptr;
  const int n = formats::split_words(line, 512, buf, sizeof(buf), words, 64, &err);
  EXPECT_GE(n, 0) << err;
  formats::BootArgs a;
  EXPECT_EQ(formats::parse_boot_args(words, n, &a), nullptr);
  return a;
}

TEST(Cmdline, SortsWordsTheLinuxWay) {
  const formats::BootArgs a =
      parse("build/kernel/mmlab-kernel.elf mm.ptlock=mm init=/bin/sh FOO=bar -c \"/a && /b\" -- x=y");
  EXPECT_STREQ(a.init, "/bin/sh");
  ASSERT_EQ(a.ntoggles, 1);
  EXPECT_STREQ(a.toggles[0], "mm.ptlock=mm");
  ASSERT_EQ(a.nenv, 1);
  EXPECT_STREQ(a.env[0], "FOO=bar");
  ASSERT_EQ(a.ninit_args, 3);
  EXPECT_STREQ(a.init_args[0], "-c");
  EXPECT_STREQ(a.init_args[1], "/a && /b");
  EXPECT_STREQ(a.init_args[2], "x=y");  // after --: verbatim
  EXPECT_STREQ(parse("").init, "/init");
}

TEST(Cmdline, Errors) {
  char buf[16];
  const char* words[4];
  const char* err = nullptr;
  EXPECT_EQ(formats::split_words("a \"b", 64, buf, sizeof(buf), words, 4, &err), -1);
  EXPECT_STREQ(err, "unterminated quote");
  EXPECT_EQ(formats::split_words("a b c d e", 64, buf, sizeof(buf), words, 4, &err), -1);
  EXPECT_STREQ(err, "too many words");
  EXPECT_EQ(formats::split_words("aaaaaaaaaaaaaaaaaaaaaaaa", 64, buf, sizeof(buf), words, 4, &err), -1);
  EXPECT_STREQ(err, "command line too long");
  const char* w[] = {"k", "init="};
  formats::BootArgs a;
  EXPECT_STREQ(formats::parse_boot_args(w, 2, &a), "empty init=");
}

}  // namespace
