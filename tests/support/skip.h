// Earned skips (docs/testing.md, "Skips"). Header-only, so that the gate's own
// probe (tests/gate) needs nothing but GoogleTest.
//
// A test may skip only because this machine lacks hardware or a kernel
// feature: TS_SKIP_FOR_HARDWARE. Anything else a test needs (a Python module,
// onnxruntime-node, LibTorch, the data set, the CLI binary, test data) is an
// oracle: TS_REQUIRE_ORACLE skips without it on a developer's machine and fails
// under CI=true. Do not call GTEST_SKIP directly: scripts/ci-skip-report.py
// fails a CI run on any skip whose message does not start with a hardware tag.
#pragma once

#include <gtest/gtest.h>

#include <cctype>
#include <cstdlib>
#include <string>

namespace teesplit::testing {

// The hardware and kernel features a test may skip for.
enum class Hardware { Gpu, Sgx, AmxBf16, MemfdSecret, Landlock };

// The tag that starts a hardware skip's message: "[skip: hardware gpu] ", sgx,
// amx-bf16, memfd_secret, landlock. scripts/ci-skip-report.py accepts exactly
// these kinds (the gate's test checks that both lists agree).
inline std::string hardware_tag(Hardware h) {
  switch (h) {
    case Hardware::Gpu:
      return "[skip: hardware gpu] ";
    case Hardware::Sgx:
      return "[skip: hardware sgx] ";
    case Hardware::AmxBf16:
      return "[skip: hardware amx-bf16] ";
    case Hardware::MemfdSecret:
      return "[skip: hardware memfd_secret] ";
    case Hardware::Landlock:
      return "[skip: hardware landlock] ";
  }
  return "[skip: hardware ?] ";  // not a kind the gate accepts
}

// True when the environment says this is CI: CI is "true" (any case) or "1".
inline bool in_ci() {
  const char* v = std::getenv("CI");
  if (!v) return false;
  std::string s(v);
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s == "true" || s == "1";
}

// The prefixes of a missing oracle's skip (developer machine) and failure (CI).
inline constexpr const char* kOracleSkipTag = "[skip: oracle missing] ";
inline constexpr const char* kOracleFailTag = "[oracle missing under CI=true] ";

}  // namespace teesplit::testing

// Skips the current test: this machine lacks hardware or a kernel feature.
// `reason` may be a << chain: TS_SKIP_FOR_HARDWARE(Hardware::Gpu, "no device: " << why).
#define TS_SKIP_FOR_HARDWARE(hw, reason) \
  GTEST_SKIP() << ::teesplit::testing::hardware_tag(hw) << reason

// Unless `cond` holds, the test stops here: a skip, or a failure when in_ci().
// A statement for functions returning void (test bodies, SetUp).
#define TS_REQUIRE_ORACLE(cond, reason)                              \
  switch (0)                                                         \
  case 0:                                                            \
  default:                                                           \
    if (cond) {                                                      \
    } else if (::teesplit::testing::in_ci())                         \
      GTEST_FAIL() << ::teesplit::testing::kOracleFailTag << reason; \
    else                                                             \
      GTEST_SKIP() << ::teesplit::testing::kOracleSkipTag << reason << " (a failure under CI=true)"
