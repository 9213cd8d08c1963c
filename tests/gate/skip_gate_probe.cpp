// The gate's probe: tests that skip on purpose, run only by
// tests/gate/test_skip_gate.py (never registered with CTest directly).
#include <gtest/gtest.h>

#include <iostream>

#include "support/skip.h"

namespace {

using teesplit::testing::Hardware;

TEST(Probe, MissingOracle) {
  TS_REQUIRE_ORACLE(false, "probe: the oracle is hidden on purpose");
  ADD_FAILURE() << "probe: went on past a missing oracle";
}

TEST(Probe, PresentOracle) {
  bool reached = false;
  TS_REQUIRE_ORACLE(true, "probe: never printed");
  reached = true;
  EXPECT_TRUE(reached);
}

// An oracle check inside a loop and after an if without braces: the macro is
// one statement and stops the test at the first missing oracle.
TEST(Probe, MissingOracleInALoop) {
  int reached = 0;
  for (int i = 0; i < 3; ++i) {
    if (i == 5)
      ADD_FAILURE() << "unreachable";
    else
      TS_REQUIRE_ORACLE(i < 1, "probe: oracle " << i << " is hidden on purpose");
    ++reached;
  }
  ADD_FAILURE() << "probe: went on past a missing oracle (" << reached << ")";
}

TEST(Probe, NoHardware) {
  TS_SKIP_FOR_HARDWARE(Hardware::Gpu, "probe: no device here, on purpose");
  ADD_FAILURE() << "probe: went on past a hardware skip";
}

// What the gate must catch at the ctest level: a skip that bypasses skip.h.
TEST(Probe, PlainSkip) {
  GTEST_SKIP() << "probe: a plain GTEST_SKIP";
}

// Prints every hardware tag, one per line, and whether in_ci() holds.
TEST(Probe, PrintTags) {
  for (Hardware h :
       {Hardware::Gpu, Hardware::Sgx, Hardware::AmxBf16, Hardware::MemfdSecret, Hardware::Landlock})
    std::cout << "TAG " << teesplit::testing::hardware_tag(h) << "|\n";
  std::cout << "IN_CI " << teesplit::testing::in_ci() << "\n";
}

}  // namespace
