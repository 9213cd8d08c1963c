// Elapsed times on the steady clock, and how the long commands print them
// (progress lines, ETAs, summaries).
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>

namespace teesplit {

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

inline double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// A duration as M:SS, or as H:MM:SS from an hour on; negative as 0:00.
inline std::string clock_text(double seconds) {
  const long long t = std::llround(std::max(0.0, seconds));
  char b[48];
  if (t < 3600)
    std::snprintf(b, sizeof b, "%lld:%02lld", t / 60, t % 60);
  else
    std::snprintf(b, sizeof b, "%lld:%02lld:%02lld", t / 3600, t / 60 % 60, t % 60);
  return b;
}

}  // namespace teesplit
