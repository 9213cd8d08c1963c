// LibTorch peer for teesplit's benchmarks.
//
//   libtorch_runner MODEL.pt --batch B --threads N --warmup W --runs R [--seed S]
//
// Loads a TorchScript trace (tests/fixtures/export_torchvision.py writes
// ARCH.pt), eval mode, at::set_num_threads(N), at::set_num_interop_threads(1),
// NoGradGuard + InferenceMode; times forward() on one seeded random
// [B,3,224,224] input and prints one JSON line like the other runners.
// --input X.npy / --output Y.npy as in opencv_runner.
// Launch it with OPENBLAS_NUM_THREADS=1 (see MACHINE-NOTES): Debian's LibTorch
// uses OpenBLAS, whose own threads fight OpenMP's for the cores.
#include <ATen/Parallel.h>
#include <torch/script.h>

#include <cstdio>
#include <exception>

#include "runner_common.h"

int main(int argc, char** argv) {
  try {
    const bench::RunnerArgs a = bench::parse_runner_args(argc, argv);
    at::set_num_interop_threads(1);
    at::set_num_threads(a.threads);
    torch::NoGradGuard no_grad;
    c10::InferenceMode inference;
    torch::jit::script::Module module = torch::jit::load(a.model);
    module.eval();

    at::Tensor input = torch::empty(bench::input_shape(a), torch::kFloat32);
    bench::fill_input(a, input.data_ptr<float>(), static_cast<size_t>(input.numel()));
    std::vector<torch::jit::IValue> inputs{input};
    at::Tensor out;
    const auto ms = bench::time_runs(a, [&] { out = module.forward(inputs).toTensor(); });
    if (out.dim() < 1 || out.size(0) != a.batch)
      throw std::runtime_error("unexpected output shape from " + a.model);
    if (!a.output_npy.empty()) {
      const at::Tensor o = out.contiguous().to(torch::kFloat32);
      bench::write_npy(a.output_npy, o.sizes().vec(), o.data_ptr<float>(),
                       static_cast<size_t>(o.numel()));
    }
    bench::print_json("libtorch", a, ms);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "libtorch_runner: %s\n", e.what());
    return 1;
  }
}
