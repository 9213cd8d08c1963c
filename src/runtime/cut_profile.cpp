#include "runtime/cut_profile.h"

namespace teesplit {

std::vector<CutProfile> profile_cuts(const Graph& g, BackendKind front_kind, BackendKind back_kind,
                                     int threads, Precision front_precision) {
  std::unique_ptr<Backend> front = make_backend(front_kind);
  std::unique_ptr<Backend> back = make_backend(back_kind);
  CompileOptions co;
  co.threads = threads;
  co.precision = front_precision;
  std::vector<CutProfile> out;
  for (const Cut& c : enumerate_cuts(g)) {
    CutProfile p;
    p.cut = c;
    p.stats = cut_stats(g, c);
    const RunStats st = front->compile(front_partition(g, c), co)->stats();
    p.front_weight_bytes = st.weight_bytes;
    p.front_activation_bytes = st.peak_activation_bytes;
    p.back_unsupported = first_unsupported(*back, back_partition(g, c));
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace teesplit
