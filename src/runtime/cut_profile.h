// Cut profiling for `teesplit cuts`: per valid cut, the static statistics and
// the front partition's memory as a backend allocates it, and whether a back
// backend can run the back partition.
#pragma once

#include <string>
#include <vector>

#include "graph/cuts.h"
#include "runtime/session.h"

namespace teesplit {

struct CutProfile {
  Cut cut;
  CutStats stats;
  size_t front_weight_bytes = 0;      // weights as the backend holds them
  size_t front_activation_bytes = 0;  // the backend's planned activation memory
  size_t front_peak_bytes() const { return front_weight_bytes + front_activation_bytes; }
  // Empty when the back backend can run every node of the back partition, else
  // "node 'NAME' (OP): reason" for the first it cannot.
  std::string back_unsupported;
};

// Profiles every valid cut of a specialised graph: the front partition is
// compiled on `front` and its RunStats give the peak memory, exactly what
// SplitRunner allocates for that front; the back partition is checked node by
// node against `back` (Backend::unsupported_reason), without compiling it.
// front_precision: the precision the front is compiled in (bf16 weights and
// activations count their bf16 bytes), as the enclave would run it.
std::vector<CutProfile> profile_cuts(const Graph& specialized, BackendKind front, BackendKind back,
                                     int threads = 0, Precision front_precision = Precision::F32);

}  // namespace teesplit
