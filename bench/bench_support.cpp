#include "bench_support.h"

#include <filesystem>

#include "core/error.h"
#include "core/hash.h"
#include "zoo/zoo.h"

namespace teesplit::bench {

namespace fs = std::filesystem;

std::string ensure_zoo_model(const std::string& work_dir, const std::string& arch, int64_t size) {
  const std::string path = work_dir + "/" + arch + "_" + std::to_string(size) + ".onnx";
  if (!fs::exists(path)) {
    ZooOptions zo;
    zo.arch = arch;
    zo.input_size = size;
    fs::create_directories(work_dir);
    write_zoo_model(zo, path);
  }
  return path;
}

std::vector<Cut> spread_cuts(const Graph& g) {
  const std::vector<Cut> all = enumerate_cuts(g);
  TS_CHECK(!all.empty(), "the model has no valid cut");
  std::vector<Cut> before;
  const Cut first_tail = tail_cut(g, all.front());
  for (const Cut& c : all)
    if (c.index < first_tail.index) before.push_back(c);
  TS_CHECK(before.size() >= 3, "fewer than 3 cuts before the classifier");
  return {before[before.size() / 4], before[before.size() / 2], before[before.size() * 3 / 4]};
}

Tensor seeded_input(const Shape& shape, uint64_t seed) {
  Tensor x(DType::F32, shape);
  // SplitMix64's sequence from `seed`: element i is the (i+1)-th output.
  float* p = x.data<float>();
  for (int64_t i = 0; i < x.numel(); ++i)
    p[i] = static_cast<float>(splitmix64(seed + static_cast<uint64_t>(i) * 0x9E3779B97F4A7C15ull) >>
                              40) *
           (1.0f / 16777216.0f);
  return x;
}

std::string worker_beside_build() {
  return (fs::read_symlink("/proc/self/exe").parent_path().parent_path() / "teesplit-enclave")
      .string();
}

}  // namespace teesplit::bench
