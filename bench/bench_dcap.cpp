// How long the client takes to verify a genuine SGX DCAP quote (attest/dcap.h):
// the PEM chain parsed, the chain verified up to the pinned root, three
// ECDSA-P256 signatures (docs/benchmarks.md).
//   build/bench/bench_dcap [QUOTE...]   (default: both quotes of tests/data/sgx-quotes/)
// Prints, per quote, the median and the fastest of 10 batches of 100 verifications.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "attest/verifier.h"
#include "core/error.h"
#include "core/file.h"

int main(int argc, char** argv) {
  std::vector<std::string> files(argv + 1, argv + argc);
  if (files.empty())
    for (const char* f : {"mobilecoin-hw_quote.dat", "automata-quotev3.bin"})
      files.push_back(std::string(TEESPLIT_SOURCE_DIR) + "/tests/data/sgx-quotes/" + f);
  teesplit::attest::Policy p;
  p.allow_debug = true;
  p.verification_time = 1780272000;  // 2026-06-01 UTC
  const auto verifiers = teesplit::attest::default_verifiers();
  try {
    for (const std::string& f : files) {
      const std::string s = teesplit::read_file(f, 1 << 20);
      const std::vector<uint8_t> q(s.begin(), s.end());
      const teesplit::attest::Verdict v = teesplit::attest::verify_quote(q, p, verifiers);
      if (!v.accepted) {
        std::fprintf(stderr, "%s is refused:\n%s", f.c_str(), v.to_text().c_str());
        return 1;
      }
      std::vector<double> us;
      for (int batch = 0; batch < 10; ++batch) {
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < 100; ++i) (void)teesplit::attest::verify_quote(q, p, verifiers);
        us.push_back(
            std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0)
                .count() /
            100);
      }
      std::sort(us.begin(), us.end());
      std::printf("%s: verify_quote median %.0f us, fastest %.0f us (10 x 100)\n", f.c_str(),
                  us[us.size() / 2], us.front());
    }
  } catch (const teesplit::Error& e) {
    std::fprintf(stderr, "bench_dcap: %s\n", e.what());
    return 1;
  }
  return 0;
}
