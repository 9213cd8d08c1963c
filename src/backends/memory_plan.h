// Activation arena planning, shared by the backends: every buffer has a byte size and a lifetime
// over the step list; buffers whose lifetimes overlap never share bytes. Offsets are assigned
// greedily, largest buffer first, each into the lowest-waste gap between the already placed buffers
// that live at the same time (best fit).
#pragma once

#include <cstddef>
#include <vector>

namespace teesplit {

struct BufferRequest {
  size_t bytes = 0;
  int first = 0;  // first step that touches the buffer (inclusive)
  int last = 0;   // last step that touches the buffer (inclusive)
};

struct ArenaPlan {
  std::vector<size_t> offsets;  // one per request, multiples of `alignment`
  size_t total = 0;             // arena bytes needed
};

// Throws Error when a request has last < first or alignment is not a power of 2.
ArenaPlan plan_arena(const std::vector<BufferRequest>& requests, size_t alignment = 64);

}  // namespace teesplit
