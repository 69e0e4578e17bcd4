// elf_parse on hand-built ELF32 images (valid, each rejection, every
// truncation, every single-byte corruption) and on real i386 binaries from
// gcc -m32 (static, static-pie, dynamic). Inputs live in exactly sized heap
// buffers, so a read past the end is a heap overflow ASan reports.
#include "formats/elf.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "test_files.h"

namespace {

using Bytes = std::vector<uint8_t>;
constexpr uint32_t kLimit = 0xC0000000;

constexpr uint32_t kPtNull = 0, kPtLoad = 1, kPtInterp = 3, kPtNote = 4, kPtPhdr = 6, kPtGnuStack = 0x6474E551;
constexpr uint32_t kX = 1, kW = 2, kR = 4;

struct Phdr {
  uint32_t type, offset, vaddr, paddr, filesz, memsz, flags, align;
};
static_assert(sizeof(Phdr) == 32);

Phdr load(uint32_t offset, uint32_t vaddr, uint32_t filesz, uint32_t memsz, uint32_t flags) {
  return Phdr{kPtLoad, offset, vaddr, vaddr, filesz, memsz, flags, 0x1000};
}
Phdr other(uint32_t type, uint32_t flags = kR) { return Phdr{type, 0, 0, 0, 0, 0, flags, 4}; }

// An ELF32 i386 image: the header, the program headers at phoff (52 by
// default), zeros up to size. Tests change any field before build().
struct Image {
  uint16_t type = 2;  // ET_EXEC
  uint16_t machine = 3;
  uint8_t elf_class = 1, data_enc = 1;
  uint32_t entry = 0x08048080;
  uint32_t phoff = 52;
  uint16_t phentsize = 32;
  int phnum = -1;  // -1: phdrs.size()
  uint32_t size = 0x140;
  std::vector<Phdr> phdrs;

  Bytes build() const {
    Bytes b(size, 0);
    auto put = [&](uint64_t off, const void* p, size_t n) {
      for (size_t i = 0; i < n && off + i < b.size(); ++i) b[off + i] = static_cast<const uint8_t*>(p)[i];
    };
    const uint8_t ident[16] = {0x7f, 'E', 'L', 'F', elf_class, data_enc, 1};
    put(0, ident, 16);
    put(16, &type, 2);
    put(18, &machine, 2);
    const uint32_t version = 1;
    put(20, &version, 4);
    put(24, &entry, 4);
    put(28, &phoff, 4);
    const uint16_t ehsize = 52, n = static_cast<uint16_t>(phnum >= 0 ? phnum : int(phdrs.size()));
    put(40, &ehsize, 2);
    put(42, &phentsize, 2);
    put(44, &n, 2);
    for (size_t i = 0; i < phdrs.size(); ++i) put(phoff + uint64_t{32} * i, &phdrs[i], 32);
    return b;
  }
};

// Text (R+X) from file offset 0 holding the headers, data (RW) in the next
// page with a .bss tail, and a non-executable stack.
Image minimal() {
  Image im;
  im.phdrs = {load(0, 0x08048000, 0x100, 0x100, kR | kX), load(0x100, 0x08049100, 0x40, 0x1000, kR | kW),
              other(kPtGnuStack, kR | kW)};
  return im;
}

std::string why(const Bytes& b, uint32_t limit = kLimit, formats::ElfImage* img_out = nullptr) {
  formats::ElfImage img;
  const char* e = formats::elf_parse(b.data(), static_cast<uint32_t>(b.size()), limit, &img);
  if (img_out) *img_out = img;
  return e ? e : "";
}
std::string why(const Image& im, uint32_t limit = kLimit) { return why(im.build(), limit); }

// What a successful parse promises, checked against the file itself.
void expect_invariants(const Bytes& b, const formats::ElfImage& img, uint32_t limit) {
  ASSERT_GE(img.nsegs, 1u);
  ASSERT_LE(img.nsegs, formats::kElfMaxSegments);
  bool entry_ok = false;
  for (uint32_t i = 0; i < img.nsegs; ++i) {
    const formats::ElfSegment& s = img.segs[i];
    EXPECT_GT(s.memsz, 0u);
    EXPECT_LE(s.filesz, s.memsz);
    EXPECT_LE(uint64_t{s.offset} + s.filesz, b.size());
    EXPECT_LE(uint64_t{s.vaddr} + s.memsz, limit);
    EXPECT_EQ(s.vaddr % 4096, s.offset % 4096);
    if (i) {
      EXPECT_GE(s.vaddr, img.segs[i - 1].vaddr + img.segs[i - 1].memsz);
    }
    if (s.exec && img.entry >= s.vaddr && img.entry - s.vaddr < s.memsz) entry_ok = true;
  }
  EXPECT_TRUE(entry_ok);
  EXPECT_EQ(img.phent, 32u);
}

TEST(ElfParse, ParsesAMinimalExecutable) {
  const Bytes b = minimal().build();
  formats::ElfImage img;
  ASSERT_EQ(why(b, kLimit, &img), "");
  expect_invariants(b, img, kLimit);
  EXPECT_EQ(img.entry, 0x08048080u);
  EXPECT_FALSE(img.pie);
  EXPECT_FALSE(img.exec_stack);
  EXPECT_EQ(img.phnum, 3u);
  EXPECT_EQ(img.phent, 32u);
  EXPECT_EQ(img.phdr_vaddr, 0x08048000u + 52);  // the text segment maps the table
  ASSERT_EQ(img.nsegs, 2u);
  const formats::ElfSegment& t = img.segs[0];
  EXPECT_EQ(t.vaddr, 0x08048000u);
  EXPECT_EQ(t.memsz, 0x100u);
  EXPECT_EQ(t.offset, 0u);
  EXPECT_EQ(t.filesz, 0x100u);
  EXPECT_TRUE(t.read && t.exec && !t.write);
  const formats::ElfSegment& d = img.segs[1];
  EXPECT_EQ(d.vaddr, 0x08049100u);
  EXPECT_EQ(d.memsz, 0x1000u);
  EXPECT_EQ(d.offset, 0x100u);
  EXPECT_EQ(d.filesz, 0x40u);
  EXPECT_TRUE(d.read && d.write && !d.exec);
}

TEST(ElfParse, HasMagic) {
  const Bytes b = minimal().build();
  EXPECT_TRUE(formats::elf_has_magic(b.data(), 4));
  EXPECT_FALSE(formats::elf_has_magic(b.data(), 3));
  EXPECT_FALSE(formats::elf_has_magic(nullptr, 0));
  const uint8_t script[] = {'#', '!', '/', 'b'};
  EXPECT_FALSE(formats::elf_has_magic(script, 4));
}

TEST(ElfParse, PtPhdrGivesTheTableAddress) {
  Image im = minimal();
  Phdr ph = other(kPtPhdr);
  ph.vaddr = 0x08048034;
  im.phdrs.insert(im.phdrs.begin(), ph);
  formats::ElfImage img;
  ASSERT_EQ(why(im.build(), kLimit, &img), "");
  EXPECT_EQ(img.phdr_vaddr, 0x08048034u);
  EXPECT_EQ(img.phnum, 4u);
}

TEST(ElfParse, TableNotWhollyInASegmentIsNotMapped) {
  Image im = minimal();
  // The text segment's file bytes end inside the table: no AT_PHDR.
  im.phdrs[0] = load(0, 0x08048000, 60, 0x100, kR | kX);
  formats::ElfImage img;
  ASSERT_EQ(why(im.build(), kLimit, &img), "");
  EXPECT_EQ(img.phdr_vaddr, 0u);
  // ...and with the file bytes starting after it, neither.
  im.phdrs[0] = load(0x1000 + 0x40, 0x08048040, 0x40, 0x100, kR | kX);
  im.size = 0x1100;
  ASSERT_EQ(why(im.build(), kLimit, &img), "");
  EXPECT_EQ(img.phdr_vaddr, 0u);
}

TEST(ElfParse, ExecutableStackFromPtGnuStack) {
  Image im = minimal();
  im.phdrs[2].flags = kR | kW | kX;
  formats::ElfImage img;
  ASSERT_EQ(why(im.build(), kLimit, &img), "");
  EXPECT_TRUE(img.exec_stack);
  im.phdrs.pop_back();  // none: not executable
  ASSERT_EQ(why(im.build(), kLimit, &img), "");
  EXPECT_FALSE(img.exec_stack);
}

TEST(ElfParse, StaticPieIsEtDynWithoutInterp) {
  Image im;
  im.type = 3;  // ET_DYN
  im.entry = 0x80;
  im.phdrs = {load(0, 0, 0x100, 0x100, kR | kX), load(0x100, 0x1100, 0x40, 0x80, kR | kW)};
  formats::ElfImage img;
  ASSERT_EQ(why(im.build(), kLimit, &img), "");
  EXPECT_TRUE(img.pie);
  EXPECT_EQ(img.segs[0].vaddr, 0u);
  EXPECT_EQ(img.phdr_vaddr, 52u);
  // Checked at bias 0: a pie whose vaddrs alone reach the limit is refused.
  im.phdrs[1] = load(0x100, kLimit - 0x100, 0x40, 0x200, kR | kW);
  EXPECT_EQ(why(im), "segment wraps or reaches the kernel (>= limit)");
}

TEST(ElfParse, SkipsEmptyLoadsAndOtherTypes) {
  Image im = minimal();
  im.phdrs.insert(im.phdrs.begin() + 1, load(0x10, 0x08048010, 0, 0, kR));  // memsz 0: ignored, even out of order
  im.phdrs.push_back(other(kPtNote));
  im.phdrs.push_back(other(kPtNull));
  im.phdrs.push_back(other(0x6474E552));  // PT_GNU_RELRO
  im.size = 0x200;
  formats::ElfImage img;
  ASSERT_EQ(why(im.build(), kLimit, &img), "");
  EXPECT_EQ(img.nsegs, 2u);
  EXPECT_EQ(img.phnum, 7u);
}

TEST(ElfParse, SegmentsMayShareAPageButNotBytes) {
  Image im = minimal();
  // Data starts right where text ends, in the same page (glibc's layout
  // puts text end and data start in one page when the file is small).
  im.phdrs[1] = load(0x100, 0x08048100, 0x40, 0x1000, kR | kW);
  ASSERT_EQ(why(im), "");
  im.phdrs[1] = load(0x0FF, 0x080480FF, 0x40, 0x1000, kR | kW);
  EXPECT_EQ(why(im), "overlapping segments");
}

TEST(ElfParse, ASegmentMayEndExactlyAtTheLimit) {
  Image im = minimal();
  im.phdrs[1] = load(0x100, kLimit - 0x1000 + 0x100, 0x40, 0xF00, kR | kW);
  ASSERT_EQ(why(im), "");
  im.phdrs[1].memsz = 0xF01;
  EXPECT_EQ(why(im), "segment wraps or reaches the kernel (>= limit)");
}

TEST(ElfParse, SixteenLoadsFitSeventeenDoNot) {
  Image im = minimal();
  im.phdrs.pop_back();
  im.size = 0x1000;
  for (uint32_t i = 2; i < 16; ++i) im.phdrs.push_back(load(0x200, 0x08050200 + i * 0x1000, 0x10, 0x10, kR));
  formats::ElfImage img;
  ASSERT_EQ(why(im.build(), kLimit, &img), "");
  EXPECT_EQ(img.nsegs, 16u);
  im.phdrs.push_back(load(0x200, 0x08070200, 0x10, 0x10, kR));
  EXPECT_EQ(why(im), "too many PT_LOAD segments");
}

// Each rejection, one change away from the minimal image.
TEST(ElfParse, RejectsEachProblemByName) {
  const Image base = minimal();
  auto with = [&](auto change) {
    Image im = base;
    change(im);
    return why(im);
  };
  EXPECT_EQ(why(Bytes{}), "not an ELF file");
  EXPECT_EQ(why(Bytes{0x7f, 'E', 'L'}), "not an ELF file");
  EXPECT_EQ(why(Bytes{'#', '!', '/', 'b', 'i', 'n'}), "not an ELF file");
  EXPECT_EQ(why(Bytes{0x7f, 'E', 'L', 'F', 1, 1, 1}), "truncated ELF header");
  EXPECT_EQ(with([](Image& im) { im.elf_class = 2; }), "not ELF32");
  EXPECT_EQ(with([](Image& im) { im.data_enc = 2; }), "not little-endian");
  EXPECT_EQ(with([](Image& im) { im.machine = 62; }), "not i386 (e_machine)");
  EXPECT_EQ(with([](Image& im) { im.type = 1; }), "not an executable (e_type)");  // ET_REL
  EXPECT_EQ(with([](Image& im) { im.type = 4; }), "not an executable (e_type)");  // ET_CORE
  EXPECT_EQ(with([](Image& im) { im.phentsize = 40; }), "bad e_phentsize");
  EXPECT_EQ(with([](Image& im) { im.phnum = 0; }), "no PT_LOAD");
  EXPECT_EQ(with([](Image& im) {
              im.phdrs = {other(kPtGnuStack), load(0, 0x08048000, 0x10, 0, kR | kX)};
            }),
            "no PT_LOAD");
  EXPECT_EQ(with([](Image& im) { im.phnum = 2049; }), "too many program headers");
  EXPECT_EQ(with([](Image& im) { im.phnum = 0xFFFF; }), "too many program headers");  // PN_XNUM
  EXPECT_EQ(with([](Image& im) { im.phoff = 0x141; }), "program header out of file");
  EXPECT_EQ(with([](Image& im) { im.phoff = 0x140 - 95; }), "program header out of file");  // 3 need 96
  EXPECT_EQ(with([](Image& im) { im.phoff = 0xFFFFFFF0; }), "program header out of file");
  EXPECT_EQ(with([](Image& im) { im.phdrs.push_back(other(kPtInterp)); }), "dynamically linked (PT_INTERP)");
  // PT_INTERP wins over anything else wrong with the segments.
  EXPECT_EQ(with([](Image& im) {
              im.phdrs[1].filesz = 0x5000;
              im.phdrs.push_back(other(kPtInterp));
            }),
            "dynamically linked (PT_INTERP)");
  EXPECT_EQ(with([](Image& im) { im.phdrs[1].offset = 0x141; }), "segment out of file");
  EXPECT_EQ(with([](Image& im) { im.phdrs[1].filesz = 0x41; }), "segment out of file");
  EXPECT_EQ(with([](Image& im) { im.phdrs[1] = load(0xFFFFF100, 0x08049100, 0x1000, 0x1000, kR); }),
            "segment out of file");
  EXPECT_EQ(with([](Image& im) { im.phdrs[1].memsz = 0x3F; }), "segment filesz > memsz");
  EXPECT_EQ(with([](Image& im) { im.phdrs[1].vaddr = kLimit + 0x100; }),
            "segment wraps or reaches the kernel (>= limit)");
  EXPECT_EQ(with([](Image& im) { im.phdrs[1] = load(0x100, 0xFFFFF100, 0x40, 0x2000, kR); }),
            "segment wraps or reaches the kernel (>= limit)");
  {
    Image im = base;
    im.phdrs[1] = load(0x100, 0xFFFFF100, 0x40, 0x2000, kR);
    EXPECT_EQ(why(im, 0xFFFFFFFF), "segment wraps or reaches the kernel (>= limit)");  // wraps past 4 GiB
  }
  EXPECT_EQ(with([](Image& im) { im.phdrs[1].vaddr = 0x08049104; }),
            "segment vaddr and offset differ modulo the page size");
  EXPECT_EQ(with([](Image& im) { im.phdrs[1].vaddr = 0x08047100; }), "PT_LOAD segments not in ascending order");
  EXPECT_EQ(with([](Image& im) { std::swap(im.phdrs[0], im.phdrs[1]); }), "PT_LOAD segments not in ascending order");
  EXPECT_EQ(with([](Image& im) { im.phdrs[1] = load(0, 0x08048000, 0x40, 0x40, kR); }), "overlapping segments");
  EXPECT_EQ(with([](Image& im) { im.entry = 0x08049100; }), "entry not in an executable segment");  // in data
  EXPECT_EQ(with([](Image& im) { im.entry = 0x08048100; }), "entry not in an executable segment");  // one past
  EXPECT_EQ(with([](Image& im) { im.entry = 0; }), "entry not in an executable segment");
}

// Every prefix of a valid image: all are rejected (the data segment's file
// bytes end at the file's end), none crashes or reads past the end.
TEST(ElfParse, EveryTruncationIsRejected) {
  const Bytes full = minimal().build();
  for (size_t n = 0; n < full.size(); ++n) {
    const Bytes b(full.begin(), full.begin() + static_cast<ptrdiff_t>(n));
    EXPECT_NE(why(b), "") << n;
  }
}

// Every byte replaced by a few values: no crash, no read past the end, and
// whatever is accepted keeps the promises.
TEST(ElfParse, EverySingleByteCorruptionIsSafe) {
  Image im = minimal();
  Phdr ph = other(kPtPhdr);
  ph.vaddr = 0x08048034;
  im.phdrs.push_back(ph);
  const Bytes full = im.build();
  for (size_t i = 0; i < 52 + 32 * im.phdrs.size(); ++i) {
    for (const uint8_t v : {0x00, 0x01, 0x03, 0x08, 0x10, 0x7F, 0x80, 0xC0, 0xFF}) {
      Bytes b = full;
      b[i] = v;
      formats::ElfImage img;
      if (why(b, kLimit, &img).empty()) expect_invariants(b, img, kLimit);
    }
  }
}

using formats_test::read_file;

// The PT_LOADs with memsz > 0, read straight from the file: the reference.
std::vector<Phdr> loads_of(const Bytes& b) {
  uint32_t phoff;
  uint16_t phnum;
  std::memcpy(&phoff, &b[28], 4);
  std::memcpy(&phnum, &b[44], 2);
  std::vector<Phdr> out;
  for (uint32_t i = 0; i < phnum; ++i) {
    Phdr ph;
    std::memcpy(&ph, &b[phoff + 32 * i], 32);
    if (ph.type == kPtLoad && ph.memsz) out.push_back(ph);
  }
  return out;
}

void expect_matches_file(const Bytes& b, const formats::ElfImage& img) {
  const std::vector<Phdr> ref = loads_of(b);
  ASSERT_EQ(img.nsegs, ref.size());
  for (uint32_t i = 0; i < img.nsegs; ++i) {
    EXPECT_EQ(img.segs[i].vaddr, ref[i].vaddr);
    EXPECT_EQ(img.segs[i].memsz, ref[i].memsz);
    EXPECT_EQ(img.segs[i].offset, ref[i].offset);
    EXPECT_EQ(img.segs[i].filesz, ref[i].filesz);
    EXPECT_EQ(img.segs[i].read, (ref[i].flags & kR) != 0);
    EXPECT_EQ(img.segs[i].write, (ref[i].flags & kW) != 0);
    EXPECT_EQ(img.segs[i].exec, (ref[i].flags & kX) != 0);
  }
  uint32_t entry;
  std::memcpy(&entry, &b[24], 4);
  EXPECT_EQ(img.entry, entry);
  // glibc finds PT_TLS through AT_PHDR: it must point at the table.
  uint32_t phoff;
  std::memcpy(&phoff, &b[28], 4);
  ASSERT_NE(img.phdr_vaddr, 0u);
  bool found = false;
  for (uint32_t i = 0; i < img.nsegs; ++i) {
    const formats::ElfSegment& s = img.segs[i];
    if (img.phdr_vaddr >= s.vaddr && img.phdr_vaddr - s.vaddr < s.filesz) {
      EXPECT_EQ(s.offset + (img.phdr_vaddr - s.vaddr), phoff);
      found = true;
    }
  }
  EXPECT_TRUE(found);
}

TEST(ElfParse, ARealStaticBinary) {
  const Bytes b = read_file(MMLAB_TEST_STATIC_BINARY);
  ASSERT_GT(b.size(), 4096u) << MMLAB_TEST_STATIC_BINARY;
  formats::ElfImage img;
  ASSERT_EQ(why(b, kLimit, &img), "");
  expect_invariants(b, img, kLimit);
  expect_matches_file(b, img);
  EXPECT_FALSE(img.pie);
  EXPECT_FALSE(img.exec_stack);
  EXPECT_GE(img.segs[0].vaddr, 0x08048000u);
}

TEST(ElfParse, ARealStaticPieBinary) {
  const Bytes b = read_file(MMLAB_TEST_STATIC_PIE_BINARY);
  formats::ElfImage img;
  ASSERT_EQ(why(b, kLimit, &img), "");
  expect_invariants(b, img, kLimit);
  expect_matches_file(b, img);
  EXPECT_TRUE(img.pie);
  EXPECT_EQ(img.segs[0].vaddr, 0u);
}

TEST(ElfParse, ARealDynamicBinaryIsRefused) {
  EXPECT_EQ(why(read_file(MMLAB_TEST_DYNAMIC_BINARY)), "dynamically linked (PT_INTERP)");
}

// Prefixes of the real binary: every length through the headers and the
// first page, then every 509th byte. Until the last segment's file bytes
// are all there it is rejected; after, accepted.
TEST(ElfParse, TruncationsOfARealBinary) {
  const Bytes full = read_file(MMLAB_TEST_STATIC_BINARY);
  ASSERT_GT(full.size(), 4096u);
  uint64_t file_end = 0;
  for (const Phdr& ph : loads_of(full)) file_end = std::max<uint64_t>(file_end, uint64_t{ph.offset} + ph.filesz);
  for (size_t n = 0; n < full.size(); n += n < 4096 ? 1 : 509) {
    const Bytes b(full.begin(), full.begin() + static_cast<ptrdiff_t>(n));
    formats::ElfImage img;
    const std::string e = why(b, kLimit, &img);
    if (n < file_end) {
      EXPECT_NE(e, "") << n;
    } else {
      EXPECT_EQ(e, "") << n;
    }
  }
}

}  // namespace
