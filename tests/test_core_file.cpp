// core/file.h: whole-file reads with a size limit, atomic writes; key files 0600.
// core/progress.h: the progress bar's text.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "core/error.h"
#include "core/file.h"
#include "core/progress.h"
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

}  // namespace
}  // namespace teesplit
