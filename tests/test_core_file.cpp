// core/file.h: whole-file reads with a size limit, atomic writes with a mode.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "core/error.h"
#include "core/file.h"

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

TEST(CoreFile, SecretFilesAreCreatedPrivate) {
  const mode_t old = ::umask(022);
  const std::string p = temp_dir() + "/secret.key";
  // A leftover temporary with a loose mode must not lend it to the new file.
  write_file(p + ".tmp-" + std::to_string(::getpid()), "old");
  ASSERT_EQ(::chmod((p + ".tmp-" + std::to_string(::getpid())).c_str(), 0666), 0);
  write_file(p, "k", FileMode::kPrivate);
  EXPECT_EQ(read_file(p), "k");
  struct stat st {};
  ASSERT_EQ(::stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  write_file(p + ".pub", "p");
  ASSERT_EQ(::stat((p + ".pub").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  ::umask(old);
  EXPECT_THROW(write_file(temp_dir() + "/no/such/dir/x", "x"), Error);
}

}  // namespace
}  // namespace teesplit
