// split_words and parse_boot_args: the splitting rules, each error, exact
// buffer fits, every prefix of an unterminated line (no read past max_len),
// and Linux's rules for sorting the words.
#include "formats/cmdline.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

namespace {

struct Split {
  int n = 0;
  std::string err;
  std::vector<std::string> words;
};

// Splits with a buffer and argv of exactly the sizes given (heap-allocated,
// so overruns are visible to ASan).
Split split(const char* s, uint32_t max_len, uint32_t buf_len = 256, int argc_max = 32) {
  std::vector<char> buf(buf_len);
  std::vector<const char*> argv(static_cast<size_t>(argc_max));
  const char* err = nullptr;
  Split out;
  out.n = formats::split_words(s, max_len, buf.data(), buf_len, argv.data(), argc_max, &err);
  if (out.n < 0) {
    EXPECT_EQ(out.n, -1);
    EXPECT_NE(err, nullptr);
    out.err = err ? err : "";
    return out;
  }
  EXPECT_EQ(err, nullptr);
  for (int i = 0; i < out.n; ++i) {
    EXPECT_GE(argv[i], buf.data());
    EXPECT_LT(argv[i] + std::strlen(argv[i]), buf.data() + buf_len);
    out.words.emplace_back(argv[i]);
  }
  return out;
}
Split split(const char* s) { return split(s, static_cast<uint32_t>(std::strlen(s)) + 1); }

using Words = std::vector<std::string>;

TEST(SplitWords, SplitsOnRunsOfWhitespace) {
  EXPECT_EQ(split("a bb  ccc").words, (Words{"a", "bb", "ccc"}));
  EXPECT_EQ(split("  \ta\t\tb \r\n c\n").words, (Words{"a", "b", "c"}));
  EXPECT_EQ(split("").n, 0);
  EXPECT_EQ(split("   \t ").n, 0);
  EXPECT_EQ(split("one").words, (Words{"one"}));
}

TEST(SplitWords, QuotesGroupAndAreRemoved) {
  EXPECT_EQ(split("a \"b c\" d").words, (Words{"a", "b c", "d"}));
  EXPECT_EQ(split("x=\"1 2\"y z").words, (Words{"x=1 2y", "z"}));  // anywhere in a word
  EXPECT_EQ(split("\"\" a").words, (Words{"", "a"}));              // an empty word
  EXPECT_EQ(split("\"a\"\"b\"").words, (Words{"ab"}));
  EXPECT_EQ(split("\"\t\n\"").words, (Words{"\t\n"}));
  EXPECT_EQ(split("a\\\"b\"").words, (Words{"a\\b"}));  // no escapes: \" is a backslash, then a quote
}

TEST(SplitWords, StopsAtNulOrMaxLen) {
  const char s[] = "ab cd\0ef";
  EXPECT_EQ(split(s, sizeof(s)).words, (Words{"ab", "cd"}));
  EXPECT_EQ(split("abcdef", 3).words, (Words{"abc"}));
  EXPECT_EQ(split("ab cd", 4).words, (Words{"ab", "c"}));
  EXPECT_EQ(split("abc", 0).n, 0);
  EXPECT_EQ(split(nullptr, 100).n, 0);
  EXPECT_EQ(split("\"ab cd\"", 4).err, "unterminated quote");  // cut inside the quotes
}

TEST(SplitWords, Errors) {
  EXPECT_EQ(split("a \"b").err, "unterminated quote");
  EXPECT_EQ(split("\"").err, "unterminated quote");
  EXPECT_EQ(split("a b c d e", 100, 64, 4).err, "too many words");
  EXPECT_EQ(split("a", 100, 64, 0).err, "too many words");
  EXPECT_EQ(split("aaaaaaaaaaaaaaaaaaaaaaaa", 100, 16).err, "command line too long");
  EXPECT_EQ(split("a", 100, 0).err, "command line too long");
  EXPECT_EQ(split("\"\"", 100, 0).err, "command line too long");
  // A null err is allowed: the count alone says it failed.
  char buf[4];
  const char* argv[1];
  EXPECT_EQ(formats::split_words("a b", 100, buf, sizeof(buf), argv, 1, nullptr), -1);
}

TEST(SplitWords, ExactFits) {
  // "ab cd" needs 3 + 3 bytes and 2 pointers.
  EXPECT_EQ(split("ab cd", 100, 6, 2).words, (Words{"ab", "cd"}));
  EXPECT_EQ(split("ab cd", 100, 5, 2).err, "command line too long");
  EXPECT_EQ(split("ab cd", 100, 6, 1).err, "too many words");
  EXPECT_EQ(split("\"\" \"\"", 100, 2, 2).words, (Words{"", ""}));
  EXPECT_EQ(split("\"\" \"\"", 100, 1, 2).err, "command line too long");
}

// Every prefix of a line, without a NUL, in an exactly sized buffer:
// max_len is honoured and the words are those of the prefix.
TEST(SplitWords, EveryPrefixWithoutANul) {
  const std::string line = "kernel.elf mm.ptlock=mm  init=/bin/sh -c \"/a && /b\" -- x=y";
  for (size_t n = 0; n <= line.size(); ++n) {
    const std::vector<char> s(line.begin(), line.begin() + static_cast<ptrdiff_t>(n));
    const Split got = split(s.data(), static_cast<uint32_t>(n));
    const size_t quotes = static_cast<size_t>(std::count(s.begin(), s.end(), '"'));
    if (quotes % 2) {
      EXPECT_EQ(got.err, "unterminated quote") << n;
    } else {
      EXPECT_EQ(got.err, "") << n;
      // The same words as splitting a NUL-terminated copy.
      const std::string copy(s.begin(), s.end());
      EXPECT_EQ(got.words, split(copy.c_str()).words) << n;
    }
  }
}

// The words are kept (for the whole test program) so that the returned
// BootArgs may point into them.
formats::BootArgs boot(const Words& words, std::string* err = nullptr) {
  static std::deque<std::string> storage;
  std::vector<const char*> p;
  for (const std::string& w : words) p.push_back(storage.emplace_back(w).c_str());
  formats::BootArgs a;
  const char* e = formats::parse_boot_args(p.data(), static_cast<int>(p.size()), &a);
  if (err) {
    *err = e ? e : "";
  } else {
    EXPECT_EQ(e, nullptr) << e;
  }
  return a;
}

Words list(const char* const* v, int n) { return Words(v, v + n); }

// The words live in this static storage for the returned BootArgs.
formats::BootArgs boot_line(const char* line) {
  static char buf[1024];
  static const char* words[64];
  const char* err = nullptr;
  const int n = formats::split_words(line, 1024, buf, sizeof(buf), words, 64, &err);
  EXPECT_GE(n, 0) << err;
  formats::BootArgs a;
  EXPECT_EQ(formats::parse_boot_args(words, n, &a), nullptr);
  return a;
}

TEST(BootArgs, SortsAQemuCommandLineTheLinuxWay) {
  const formats::BootArgs a = boot_line(
      "build/kernel/mmlab-kernel.elf mm.ptlock=mm init=/bin/sh HOME=/root -c \"/a && /b\" mm.pmd_prealloc=off -- "
      "mm.x=1 init=/y -- z");
  EXPECT_STREQ(a.init, "/bin/sh");
  EXPECT_EQ(list(a.toggles, a.ntoggles), (Words{"mm.ptlock=mm", "mm.pmd_prealloc=off"}));
  EXPECT_EQ(list(a.env, a.nenv), (Words{"HOME=/root"}));
  // After "--" everything is init's, verbatim, a second "--" included.
  EXPECT_EQ(list(a.init_args, a.ninit_args), (Words{"-c", "/a && /b", "mm.x=1", "init=/y", "--", "z"}));
}

TEST(BootArgs, Defaults) {
  const formats::BootArgs a = boot({});
  EXPECT_STREQ(a.init, "/init");
  EXPECT_EQ(a.ntoggles, 0);
  EXPECT_EQ(a.nenv, 0);
  EXPECT_EQ(a.ninit_args, 0);
  // Only the kernel's path: skipped.
  const formats::BootArgs b = boot({"/boot/kernel"});
  EXPECT_STREQ(b.init, "/init");
  EXPECT_EQ(b.ninit_args, 0);
}

TEST(BootArgs, OnlyAFirstWordWithoutEqualsIsTheKernelsPath) {
  // A first word with '=' is a kernel argument: a loader that passes no path.
  EXPECT_EQ(list(boot({"mm.ptlock=mm", "arg"}).toggles, 1), (Words{"mm.ptlock=mm"}));
  EXPECT_STREQ(boot({"init=/x", "arg"}).init, "/x");
  EXPECT_EQ(boot({"A=1"}).nenv, 1);
  // "--" first is the separator, not a path.
  const formats::BootArgs a = boot({"--", "mm.ptlock=mm"});
  EXPECT_EQ(a.ntoggles, 0);
  EXPECT_EQ(list(a.init_args, a.ninit_args), (Words{"mm.ptlock=mm"}));
  // Whatever the first word looks like, and only the first.
  const formats::BootArgs b = boot({"kernel", "/hello", "world.txt"});
  EXPECT_EQ(list(b.init_args, b.ninit_args), (Words{"/hello", "world.txt"}));
}

TEST(BootArgs, InitAndToggles) {
  EXPECT_STREQ(boot({"k", "init=/a", "init=/b"}).init, "/b");  // the last wins
  EXPECT_STREQ(boot({"k", "init=/a=b"}).init, "/a=b");         // only the first '=' splits
  const formats::BootArgs a = boot({"k", "init", "mm.bare", "initx=1"});
  EXPECT_EQ(list(a.init_args, a.ninit_args), (Words{"init"}));
  EXPECT_EQ(list(a.toggles, a.ntoggles), (Words{"mm.bare"}));  // the toggle parser judges it
  EXPECT_EQ(list(a.env, a.nenv), (Words{"initx=1"}));
}

TEST(BootArgs, EnvironmentReplacesByKey) {
  const formats::BootArgs a = boot({"k", "A=1", "B=2", "AB=3", "A=4", "=5", "mod.param=6", "=7"});
  // A later A= replaces the earlier in place; the key is all before the first '='.
  EXPECT_EQ(list(a.env, a.nenv), (Words{"A=4", "B=2", "AB=3", "=7", "mod.param=6"}));
}

TEST(BootArgs, Errors) {
  std::string err;
  boot({"k", "init="}, &err);
  EXPECT_EQ(err, "empty init=");

  Words w = {"k"};
  for (int i = 0; i < formats::kBootMaxToggles; ++i) w.push_back("mm.t" + std::to_string(i) + "=1");
  boot(w, &err);
  EXPECT_EQ(err, "");
  w.push_back("mm.last=1");
  boot(w, &err);
  EXPECT_EQ(err, "too many toggles");

  w = {"k"};
  for (int i = 0; i < formats::kBootMaxEnv; ++i) w.push_back("K" + std::to_string(i) + "=1");
  w.push_back("K0=again");  // a replacement needs no new slot
  boot(w, &err);
  EXPECT_EQ(err, "");
  w.push_back("NEW=1");
  boot(w, &err);
  EXPECT_EQ(err, "too many environment words");

  for (const bool after_dashes : {false, true}) {
    w = {"k"};
    if (after_dashes) w.push_back("--");
    for (int i = 0; i < formats::kBootMaxInitArgs; ++i) w.push_back("a" + std::to_string(i));
    boot(w, &err);
    EXPECT_EQ(err, "") << after_dashes;
    w.push_back("one-more");
    boot(w, &err);
    EXPECT_EQ(err, "too many arguments for init") << after_dashes;
  }
}

}  // namespace

namespace {

TEST(BootArgs, DebugOptionsForTheLoadersTests) {
  const char* panic_words[] = {"k", "mmlab.debug=panic", "init=/x"};
  formats::BootArgs a;
  ASSERT_EQ(formats::parse_boot_args(panic_words, 3, &a), nullptr);
  EXPECT_EQ(a.debug, formats::BootDebug::kPanic);
  const char* hang_words[] = {"k", "mmlab.debug=hang"};
  ASSERT_EQ(formats::parse_boot_args(hang_words, 2, &a), nullptr);
  EXPECT_EQ(a.debug, formats::BootDebug::kHang);
  const char* none[] = {"k", "init=/x"};
  ASSERT_EQ(formats::parse_boot_args(none, 2, &a), nullptr);
  EXPECT_EQ(a.debug, formats::BootDebug::kNone);
  const char* inversion[] = {"k", "mmlab.debug=lock-inversion"};
  ASSERT_EQ(formats::parse_boot_args(inversion, 2, &a), nullptr);
  EXPECT_EQ(a.debug, formats::BootDebug::kLockInversion);
  for (const char* bad : {"mmlab.debug=crash", "mmlab.debug", "mmlab.foo=1", "mmlab.lockdep=1", "mmlab.lockdep"}) {
    const char* w[] = {"k", bad};
    const char* err = formats::parse_boot_args(w, 2, &a);
    ASSERT_NE(err, nullptr) << bad;
    EXPECT_NE(std::string(err).find("mmlab.debug=panic, hang or lock-inversion, or mmlab.lockdep=on or off"),
              std::string::npos)
        << err;
  }
  // After "--" it is init's argument like any other word.
  const char* after[] = {"k", "--", "mmlab.debug=panic"};
  ASSERT_EQ(formats::parse_boot_args(after, 3, &a), nullptr);
  EXPECT_EQ(a.debug, formats::BootDebug::kNone);
  EXPECT_EQ(a.ninit_args, 1);
}

TEST(BootArgs, LockdepOnOffLastWins) {
  formats::BootArgs a;
  const char* none[] = {"k", "init=/x"};
  ASSERT_EQ(formats::parse_boot_args(none, 2, &a), nullptr);
  EXPECT_FALSE(a.lockdep);
  const char* on[] = {"k", "mmlab.lockdep=on", "init=/x"};
  ASSERT_EQ(formats::parse_boot_args(on, 3, &a), nullptr);
  EXPECT_TRUE(a.lockdep);
  const char* off[] = {"k", "mmlab.lockdep=on", "mmlab.lockdep=off"};
  ASSERT_EQ(formats::parse_boot_args(off, 3, &a), nullptr);
  EXPECT_FALSE(a.lockdep);
}

}  // namespace
