#include "core/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace teesplit {

using Clock = std::chrono::steady_clock;

ProgressLine::ProgressLine(bool enabled, int width)
    : enabled_(enabled),
      tty_(isatty(STDERR_FILENO) != 0),
      width_(width),
      last_(Clock::now() - std::chrono::hours(1)) {}

void ProgressLine::update(const std::string& line, bool force) {
  if (!enabled_) return;
  const double gap = std::chrono::duration<double>(Clock::now() - last_).count();
  if (!force && gap < (tty_ ? 0.25 : 10.0)) return;
  last_ = Clock::now();
  if (tty_)
    std::fprintf(stderr, "\r%-*s", width_, line.c_str());
  else
    std::fprintf(stderr, "%s\n", line.c_str());
  shown_ = true;
  std::fflush(stderr);
}

void ProgressLine::clear() {
  if (enabled_ && tty_ && shown_) std::fprintf(stderr, "\r%-*s\r", width_, "");
  shown_ = false;
}

std::string progress_bar(int64_t i, int64_t n, int width) {
  width = std::max(width, 0);
  const int fill =
      std::clamp(static_cast<int>(static_cast<double>(i) /
                                  static_cast<double>(std::max<int64_t>(n, 1)) * width),
                 0, width);
  // Appended in place: "[" + std::string(...) tripped GCC 12's -Wrestrict.
  std::string bar;
  bar.reserve(static_cast<size_t>(width) + 2);
  bar += '[';
  bar.append(static_cast<size_t>(fill), '=');
  bar.append(static_cast<size_t>(width - fill), ' ');
  bar += ']';
  return bar;
}

}  // namespace teesplit
