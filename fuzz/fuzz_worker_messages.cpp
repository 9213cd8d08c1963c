// libFuzzer target for the host<->worker messages (enclave/messages.h): what the
// worker reads from the host, and what the host reads from the worker. Build and
// runs as fuzz_front_file.cpp says. Corpus: fuzz/corpus/fuzz_worker_messages,
// written by fuzz/make_worker_message_seeds.py.
//
// The first input byte picks the decoder, the rest is the payload. Each must
// decode or throw teesplit::Error; a message that decodes must encode back to
// the same bytes.
#include <cstdint>
#include <cstdlib>
#include <span>

#include "core/error.h"
#include "enclave/messages.h"

namespace {

using namespace teesplit;
using namespace teesplit::enclave;

template <class M>
void same(const M& m, std::span<const uint8_t> p) {
  const std::vector<uint8_t> again = encode(m);
  if (again.size() != p.size() || !std::equal(again.begin(), again.end(), p.begin())) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::span<const uint8_t> p(data + 1, size - 1);
  const Shape feature = {1, 4, 8, 8}, input = {1, 1, 8, 8};
  try {
    switch (data[0] % 9) {
      case 0:
        same(decode_worker_info(p), p);
        break;
      case 1:
        same(decode_attest_request(p), p);
        break;
      case 2:
        same(decode_attest_reply(p), p);
        break;
      case 3:
        same(decode_sealed_request(p, "infer request"), p);
        break;
      case 4:
        same(decode_feature_reply(p, feature), p);
        break;
      case 5:
        same(decode_tail_request(p, input), p);
        break;
      case 6:
        same(decode_tail_reply(p), p);
        break;
      case 7:
        same(decode_provision_reply(p), p);
        break;
      case 8:
        same(decode_error_reply(p), p);
        break;
    }
  } catch (const Error&) {
    // refused: fine
  }
  return 0;
}
