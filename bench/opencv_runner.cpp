// OpenCV DNN peer for teesplit's benchmarks.
//
//   opencv_runner MODEL.onnx --batch B --threads N --warmup W --runs R [--seed S]
//
// Loads MODEL with cv::dnn::readNetFromONNX (use the *.opencv.onnx rewrite from
// bench/prepare_models.py: OpenCV 4.6 rejects Identity nodes), backend
// DNN_BACKEND_OPENCV, target DNN_TARGET_CPU, cv::setNumThreads(N); times
// setInput + forward on one seeded random [B,3,224,224] input and prints one
// JSON line like the other runners. --input X.npy / --output Y.npy read the
// input from and write the last output to .npy files (for run_benchmarks.py --check).
#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>

#include <cstdio>
#include <exception>

#include "runner_common.h"

int main(int argc, char** argv) {
  try {
    const bench::RunnerArgs a = bench::parse_runner_args(argc, argv);
    cv::setNumThreads(a.threads);
    cv::dnn::Net net = cv::dnn::readNetFromONNX(a.model);
    if (net.empty()) throw std::runtime_error("could not load " + a.model);
    net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
    net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);

    const std::vector<int64_t> shape = bench::input_shape(a);
    const int dims[4] = {int(shape[0]), int(shape[1]), int(shape[2]), int(shape[3])};
    cv::Mat input(4, dims, CV_32F);
    bench::fill_input(a, input.ptr<float>(), input.total());
    cv::Mat out;
    const auto ms = bench::time_runs(a, [&] {
      net.setInput(input);
      out = net.forward();
    });
    if (out.empty() || out.size[0] != a.batch)
      throw std::runtime_error("unexpected output shape from " + a.model);
    if (!a.output_npy.empty()) {
      CV_Assert(out.isContinuous() && out.type() == CV_32F);
      std::vector<int64_t> oshape;
      for (int i = 0; i < out.dims; ++i) oshape.push_back(out.size[i]);
      bench::write_npy(a.output_npy, oshape, out.ptr<float>(), out.total());
    }
    bench::print_json("opencv", a, ms);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "opencv_runner: %s\n", e.what());
    return 1;
  }
}
