#include "ops/broadcast.h"

#include <algorithm>

#include "core/error.h"

namespace teesplit {

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    // i counts from the right.
    int64_t da = i < a.size() ? a[a.size() - 1 - i] : 1;
    int64_t db = i < b.size() ? b[b.size() - 1 - i] : 1;
    TS_CHECK(da >= 0 && db >= 0, op, ": shapes ", shape_str(a), " and ", shape_str(b),
             " have unknown dimensions");
    int64_t d;
    if (da == db || db == 1) {
      d = da;
    } else if (da == 1) {
      d = db;
    } else {
      fail(op, ": shapes ", shape_str(a), " and ", shape_str(b), " cannot be broadcast (dimension ",
           rank - 1 - i, ": ", da, " vs ", db, ")");
    }
    out[rank - 1 - i] = d;
  }
  return out;
}

std::vector<int64_t> broadcast_strides(const Shape& in, const Shape& out, const char* op) {
  TS_CHECK(in.size() <= out.size(), op, ": shape ", shape_str(in), " cannot be broadcast to ",
           shape_str(out));
  std::vector<int64_t> st(out.size(), 0);
  const size_t lead = out.size() - in.size();
  int64_t s = 1;
  for (size_t i = in.size(); i-- > 0;) {
    TS_CHECK(in[i] == out[lead + i] || in[i] == 1, op, ": shape ", shape_str(in),
             " cannot be broadcast to ", shape_str(out));
    st[lead + i] = in[i] == 1 ? 0 : s;
    s *= in[i];
  }
  return st;
}

}  // namespace teesplit
