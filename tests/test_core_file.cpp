// core/file.h: whole-file reads with a size limit, atomic writes; key files 0600.
// core/progress.h: the progress bar's text, the progress file a child process
// keeps for its parent, and the block of lines drawn on a terminal.
// core/text.h: comma-separated lists of the command line.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "core/clock.h"
#include "core/error.h"
#include "core/file.h"
#include "core/progress.h"
#include "core/text.h"
#include "crypto/ed25519.h"

namespace teesplit {
namespace {

std::string temp_dir() {
  std::string d =
      (std::filesystem::temp_directory_path() / ("ts-file-" + std::to_string(::getpid()))).string();
  std::filesystem::create_directories(d);
  return d;
}

TEST(CoreFile, RoundTripAndLimit) {
  const std::string p = temp_dir() + "/a.bin";
  write_file(p, std::string("hello\0world", 11));
  EXPECT_EQ(read_file(p), std::string("hello\0world", 11));
  EXPECT_EQ(read_file(p, 11).size(), 11u);
  try {
    read_file(p, 10);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
  EXPECT_THROW(read_file(p + ".missing"), Error);
}

// Secrets (sealing roots, sealed keys, key files) go through crypto::write_key_file.
TEST(CoreFile, SecretFilesAreCreatedPrivate) {
  const mode_t old = ::umask(0);  // a loose umask must not loosen a key file
  const std::string p = temp_dir() + "/secret.key";
  const std::vector<uint8_t> k = {'k'};
  crypto::write_key_file(p, k, 0600, /*overwrite=*/false);
  EXPECT_EQ(read_file(p), "k");
  struct stat st {};
  ASSERT_EQ(::stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // Never replaced unless asked; replaced when asked, still 0600.
  EXPECT_THROW(crypto::write_key_file(p, k, 0600, /*overwrite=*/false), Error);
  const std::vector<uint8_t> n = {'n'};
  crypto::write_key_file(p, n, 0600, /*overwrite=*/true);
  EXPECT_EQ(read_file(p), "n");
  ASSERT_EQ(::stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  crypto::write_key_file(p + ".pub", k, 0644, /*overwrite=*/false);
  ASSERT_EQ(::stat((p + ".pub").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  ::umask(old);
  EXPECT_THROW(crypto::write_key_file(temp_dir() + "/no/such/dir/x", k, 0600, false), Error);
  EXPECT_THROW(write_file(temp_dir() + "/no/such/dir/x", "x"), Error);
}

// Elapsed times and ETAs: M:SS under an hour, H:MM:SS from an hour on, rounded.
TEST(CoreClock, TextUnderAndOverAnHour) {
  EXPECT_EQ(clock_text(0), "0:00");
  EXPECT_EQ(clock_text(-5), "0:00");
  EXPECT_EQ(clock_text(59.6), "1:00");
  EXPECT_EQ(clock_text(605), "10:05");
  EXPECT_EQ(clock_text(3599), "59:59");
  EXPECT_EQ(clock_text(3600), "1:00:00");
  EXPECT_EQ(clock_text(3725), "1:02:05");
  EXPECT_EQ(clock_text(90000), "25:00:00");
  const auto t0 = std::chrono::steady_clock::now() - std::chrono::milliseconds(1500);
  EXPECT_GE(seconds_since(t0), 1.5);
  EXPECT_GE(ms_since(t0), 1500.0);
  EXPECT_LT(ms_since(t0), 1000 * seconds_since(t0) + 1);  // the same clock
}

TEST(CoreProgress, BarIsWidthPlusTwoAndFillsInProportion) {
  EXPECT_EQ(progress_bar(0, 10, 4), "[    ]");
  EXPECT_EQ(progress_bar(5, 10, 4), "[==  ]");
  EXPECT_EQ(progress_bar(10, 10, 4), "[====]");
  EXPECT_EQ(progress_bar(99, 10, 4), "[====]");  // past the end: full, not longer
  EXPECT_EQ(progress_bar(-3, 10, 4), "[    ]");
  EXPECT_EQ(progress_bar(3, 0, 4), "[====]");  // n = 0 counts as 1
  EXPECT_EQ(progress_bar(1, 2, 0), "[]");
  EXPECT_EQ(progress_bar(1, 2, -5), "[]");
}

// The progress file holds the latest whole line: a shorter line replaces a
// longer one entirely, updates within 0.25 s are dropped unless forced, clear()
// empties it, and a missing file reads as "".
TEST(CoreProgress, FileKeepsTheLatestWholeLine) {
  const std::string f = temp_dir() + "/progress";
  EXPECT_EQ(read_progress_file(f), "");
  {
    ProgressLine p(ProgressFile{f});
    EXPECT_EQ(read_progress_file(f), "");
    p.update("cut conv1 (1/1) cgan step 100/2000 a long line");
    EXPECT_EQ(read_progress_file(f), "cut conv1 (1/1) cgan step 100/2000 a long line");
    p.update("too soon");
    EXPECT_EQ(read_progress_file(f), "cut conv1 (1/1) cgan step 100/2000 a long line");
    p.update("short", /*force=*/true);
    EXPECT_EQ(read_progress_file(f), "short");
    EXPECT_EQ(std::filesystem::file_size(f), 6u);
    p.clear();
    EXPECT_EQ(read_progress_file(f), "");
  }
  EXPECT_THROW(ProgressLine(ProgressFile{temp_dir() + "/no/such/dir/progress"}), Error);
}

// Into a log file the block is one line, its lines joined without their
// indentation, and at most one line every 10 s.
TEST(CoreProgress, BlockIsOneLineInALog) {
  const std::string f = temp_dir() + "/log";
  std::fflush(stderr);
  const int saved = ::dup(STDERR_FILENO);
  const int fd = ::open(f.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  ::dup2(fd, STDERR_FILENO);
  ::close(fd);
  {
    ProgressBlock b(true);
    b.update({"attack 0/3", "  cut a: step 1"});
    b.update({"attack 0/3", "  cut a: step 2"});  // within 10 s: not written
    b.update({"attack 1/3", "  cut b: step 1"}, /*force=*/true);
  }
  std::fflush(stderr);
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  EXPECT_EQ(read_file(f), "attack 0/3 | cut a: step 1\nattack 1/3 | cut b: step 1\n");
}

// On a terminal (a pseudo-terminal here) the block is redrawn in place: back to
// its first line, each line erased and rewritten and cut to the width so that
// none wraps, what is left of a longer block erased, the same lines not drawn
// twice; clear() erases it all.
TEST(CoreProgress, BlockRedrawsInPlaceOnATerminal) {
  const int master = posix_openpt(O_RDWR | O_NOCTTY);
  ASSERT_GE(master, 0);
  ASSERT_EQ(grantpt(master), 0);
  ASSERT_EQ(unlockpt(master), 0);
  const int slave = ::open(ptsname(master), O_RDWR | O_NOCTTY);
  ASSERT_GE(slave, 0);
  termios t{};
  ASSERT_EQ(tcgetattr(slave, &t), 0);
  cfmakeraw(&t);  // no "\n" -> "\r\n"
  ASSERT_EQ(tcsetattr(slave, TCSANOW, &t), 0);
  winsize ws{};
  ws.ws_col = 12;
  ws.ws_row = 24;
  ASSERT_EQ(ioctl(slave, TIOCSWINSZ, &ws), 0);
  std::fflush(stderr);
  const int saved = ::dup(STDERR_FILENO);
  ::dup2(slave, STDERR_FILENO);
  {
    ProgressBlock b(true);
    b.update({"attack 0/3", "  cut a: starting"});
    b.update({"attack 0/3", "  cut a: starting"}, /*force=*/true);  // unchanged: not drawn
    b.update({"attack 1/3"}, /*force=*/true);
    b.clear();
  }
  std::fflush(stderr);
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  ::close(slave);
  std::string got;
  char buf[512];
  const int flags = ::fcntl(master, F_GETFL);
  ::fcntl(master, F_SETFL, flags | O_NONBLOCK);
  for (ssize_t n; (n = ::read(master, buf, sizeof buf)) > 0;) got.append(buf, size_t(n));
  ::close(master);
  EXPECT_EQ(got,
            "\033[2Kattack 0/3\n\033[2K  cut a: st\n"  // 11 of 12 columns
            "\033[2F\033[2Kattack 1/3\n\033[J"
            "\033[1F\033[J");
}

// --cuts and --attacks: items in order, as written; an empty item is an error that
// names the option and the list, wherever it is.
TEST(SplitList, ItemsInOrderAndEmptyItemsRefused) {
  using V = std::vector<std::string>;
  EXPECT_EQ(split_list("cgan", "--attacks"), V{"cgan"});
  EXPECT_EQ(split_list("b,a,b", "--cuts"), V({"b", "a", "b"}));
  EXPECT_EQ(split_list(" a", "--cuts"), V{" a"});  // not trimmed: the name is checked later
  for (const char* bad : {"", ",", "a,", ",a", "a,,b", ",,"}) {
    std::string msg;
    try {
      split_list(bad, "--cuts");
    } catch (const Error& e) {
      msg = e.what();
    }
    ASSERT_NE(msg, "") << "'" << bad << "' was accepted";
    EXPECT_EQ(msg.rfind("--cuts", 0), 0u) << msg;
    if (*bad) EXPECT_NE(msg.find(std::string("'") + bad + "'"), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace teesplit
