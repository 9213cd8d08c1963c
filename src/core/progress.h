// A progress line on stderr, as the long commands draw it (train, attack):
// rewritten in place on a terminal (at most 4 updates a second), one line every
// 10 s when stderr is a file (a nohup log), so that logs stay readable.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace teesplit {

class ProgressLine {
 public:
  // width: the terminal line is padded to this many characters (clearing the last one).
  explicit ProgressLine(bool enabled, int width = 110);
  // Shows `line` unless the last update was too recent (force: show it anyway).
  void update(const std::string& line, bool force = false);
  // Erases the line on a terminal (before printing something else).
  void clear();

 private:
  bool enabled_, tty_;
  int width_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point last_;
};

// "[=====     ]": i of n done, in `width` characters.
std::string progress_bar(int64_t i, int64_t n, int width = 20);

}  // namespace teesplit
