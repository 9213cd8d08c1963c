#include "backends/memory_plan.h"

#include <algorithm>
#include <numeric>

#include "core/error.h"

namespace teesplit {

namespace {
size_t round_up(size_t v, size_t a) {
  return (v + a - 1) / a * a;
}
}  // namespace

ArenaPlan plan_arena(const std::vector<BufferRequest>& requests, size_t alignment) {
  TS_CHECK(alignment > 0 && (alignment & (alignment - 1)) == 0, "plan_arena: alignment ", alignment,
           " is not a power of two");
  for (size_t i = 0; i < requests.size(); ++i)
    TS_CHECK(requests[i].first <= requests[i].last, "plan_arena: buffer ", i, " ends (step ",
             requests[i].last, ") before it starts (step ", requests[i].first, ")");
  ArenaPlan plan;
  plan.offsets.assign(requests.size(), 0);
  std::vector<size_t> order(requests.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return requests[a].bytes > requests[b].bytes; });
  std::vector<size_t> placed;  // indices already given an offset
  for (size_t idx : order) {
    const BufferRequest& r = requests[idx];
    const size_t need = round_up(std::max<size_t>(r.bytes, 1), alignment);
    // Regions [offset, offset + size) of placed buffers alive at the same time.
    std::vector<std::pair<size_t, size_t>> busy;
    for (size_t j : placed) {
      const BufferRequest& o = requests[j];
      if (o.last < r.first || r.last < o.first) continue;
      busy.emplace_back(plan.offsets[j],
                        plan.offsets[j] + round_up(std::max<size_t>(o.bytes, 1), alignment));
    }
    std::sort(busy.begin(), busy.end());
    size_t best = SIZE_MAX, best_waste = SIZE_MAX, cursor = 0;
    for (const auto& [begin, end] : busy) {
      if (begin > cursor && begin - cursor >= need && begin - cursor - need < best_waste) {
        best = cursor;
        best_waste = begin - cursor - need;
      }
      cursor = std::max(cursor, end);
    }
    if (best == SIZE_MAX) best = cursor;  // after everything alive at the same time
    plan.offsets[idx] = best;
    plan.total = std::max(plan.total, best + need);
    placed.push_back(idx);
  }
  return plan;
}

}  // namespace teesplit
