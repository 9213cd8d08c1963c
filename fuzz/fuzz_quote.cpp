// libFuzzer target for quotes (attest/quote.h, attest/verifier.h); build and runs
// as fuzz_front_file.cpp says. Corpus: fuzz/corpus/fuzz_quote (the two genuine SGX
// quotes of tests/data/sgx-quotes/, and simulated quotes signed by the fixed key
// below; fuzz/make_quote_seeds.sh writes them).
//
// The first input byte picks the mode (modulo 3), the rest is the input:
//   0: parse_quote; a quote that parses must serialise back to the same bytes;
//   1: verify_quote with a policy that pins the fixed simulated root (seed 0x01..)
//      and allows simulated quotes: it must never throw, and a quote it accepts
//      must be exactly the bytes it parsed (nothing outside the signed part and
//      the signature can change and still pass). Genuine (Intel) quotes go to the
//      DCAP verifier, at a fixed verification time (2026-06-01);
//   2: a DCAP quote's signature data alone (attest/dcap.h): parse it, serialise
//      it back to the same bytes, and parse its certification data as a PCK
//      chain (seeds *_sigdata: the two genuine quotes' signature data).
#include <cstdint>
#include <cstdlib>
#include <span>

#include "attest/dcap.h"
#include "attest/quote.h"
#include "attest/verifier.h"
#include "core/error.h"
#include "crypto/ed25519.h"

namespace {

teesplit::attest::Policy fixed_policy() {
  std::array<uint8_t, 32> seed{};
  for (size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<uint8_t>(i + 1);
  teesplit::attest::Policy p;
  p.simulated_root = teesplit::crypto::Ed25519PrivateKey::from_seed(seed).public_key();
  p.allow_simulated = true;
  p.allow_debug = true;
  p.allow_insecure = true;
  p.verification_time = 1780272000;  // 2026-06-01 00:00:00 UTC: runs do not depend on the date
  return p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::span<const uint8_t> quote(data + 1, size - 1);
  if (data[0] % 3 == 2) {
    try {
      const teesplit::attest::EcdsaSignatureData d =
          teesplit::attest::parse_ecdsa_signature_data(quote);
      const std::vector<uint8_t> again = teesplit::attest::serialize_ecdsa_signature_data(d);
      if (again.size() != quote.size() || !std::equal(again.begin(), again.end(), quote.begin()))
        std::abort();  // the layout lost or moved a byte
      (void)teesplit::attest::parse_pck_chain(d.cert_data);
    } catch (const teesplit::Error&) {
      // refused: fine
    }
    return 0;
  }
  if (data[0] % 3 == 0) {
    try {
      const teesplit::attest::Quote q = teesplit::attest::parse_quote(quote);
      const std::vector<uint8_t> again = q.serialize();
      if (again.size() != quote.size() || !std::equal(again.begin(), again.end(), quote.begin()))
        std::abort();  // the layout lost or moved a byte
    } catch (const teesplit::Error&) {
      // refused: fine
    }
    return 0;
  }
  static const teesplit::attest::Policy policy = fixed_policy();
  const teesplit::attest::Verdict v = teesplit::attest::verify_quote(quote, policy);
  if (v.accepted) {
    const std::vector<uint8_t> again = v.quote->serialize();
    if (again.size() != quote.size() || !std::equal(again.begin(), again.end(), quote.begin()))
      std::abort();
  }
  return 0;
}
