#include <chrono>
#include <cstdio>

#include "io/npy.h"
#include "tools/teesplit/args.h"
#include "tools/teesplit/commands.h"

namespace teesplit {

int cmd_run(int argc, char** argv) {
  Args a(argc, argv, {"tf32"},
         {"input", "output", "threads", "backend", "batch", "top", "seed", "split", "key"});
  TS_CHECK(a.positional().size() == 1,
           "usage: teesplit run MODEL.onnx [--input FILE.npy|IMAGE] [--output OUT.npy] "
           "[--threads N] [--batch B] [--top K] [--backend auto|cpu|cuda|reference] [--tf32] "
           "[--split DIR [--key KEY]] (see docs/usage.md)");
  SessionOptions so;
  so.backend = parse_backend(a.get("backend", "auto"));
  so.tf32 = a.has("tf32");
  so.threads = static_cast<int>(a.get_int("threads", 0, 0, 1024));
  const int64_t batch = a.get_int("batch", 1, 1, 4096);
  auto session = open_session(a.positional()[0], so);
  Tensor input = make_input(session->graph(), a.get("input", ""), batch,
                            static_cast<uint64_t>(a.get_int("seed", 0, 0, INT64_MAX)));
  auto t0 = std::chrono::steady_clock::now();
  std::vector<Tensor> outs =
      a.has("split") ? run_split(a.get("split", ""), a.positional()[0], a.get("key", ""), so, input)
                     : session->run({input});
  auto t1 = std::chrono::steady_clock::now();
  std::printf("model %s, input %s, backend %s: %.2f ms (first run, includes compilation)\n",
              a.positional()[0].c_str(), shape_str(input.shape()).c_str(),
              backend_kind_name(so.backend),
              std::chrono::duration<double, std::milli>(t1 - t0).count());
  for (size_t i = 0; i < outs.size(); ++i)
    std::printf("output '%s': %s\n",
                session->graph().value(session->graph().outputs[i]).name.c_str(),
                shape_str(outs[i].shape()).c_str());
  if (outs[0].dtype() == DType::F32)
    print_top_classes(outs[0], static_cast<int>(a.get_int("top", 5, 1, 1000)));
  if (a.has("output")) {
    write_npy(a.get("output", ""), outs[0]);
    std::printf("wrote %s\n", a.get("output", "").c_str());
  }
  return 0;
}

}  // namespace teesplit
