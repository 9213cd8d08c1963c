// Shared command line, input generation and JSON output for the C++ peer
// runners (opencv_runner, libtorch_runner). Header-only; no teesplit code.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace bench {

struct RunnerArgs {
  std::string model;
  int batch = 1;
  int threads = 1;
  int warmup = 3;
  int runs = 10;
  int seed = 1;
  std::string input_npy;   // optional: read the input from this .npy instead
  std::string output_npy;  // optional: write the last output here
};

// Parses "MODEL --batch B --threads N --warmup W --runs R [--seed S] [--json]
// [--input X.npy] [--output Y.npy]".
// Throws std::invalid_argument with a message on bad input.
inline RunnerArgs parse_runner_args(int argc, char** argv) {
  RunnerArgs a;
  bool have_model = false;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "--json") continue;
    if (k == "--input" || k == "--output") {
      if (i + 1 >= argc) throw std::invalid_argument(k + " needs a value");
      (k == "--input" ? a.input_npy : a.output_npy) = argv[++i];
      continue;
    }
    if (k.rfind("--", 0) == 0) {
      if (i + 1 >= argc) throw std::invalid_argument(k + " needs a value");
      const std::string v = argv[++i];
      char* end = nullptr;
      const long n = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || n < 0 || n > 1000000)
        throw std::invalid_argument("bad value for " + k + ": " + v);
      if (k == "--batch")
        a.batch = static_cast<int>(n);
      else if (k == "--threads")
        a.threads = static_cast<int>(n);
      else if (k == "--warmup")
        a.warmup = static_cast<int>(n);
      else if (k == "--runs")
        a.runs = static_cast<int>(n);
      else if (k == "--seed")
        a.seed = static_cast<int>(n);
      else
        throw std::invalid_argument("unknown option " + k);
    } else if (!have_model) {
      a.model = k;
      have_model = true;
    } else {
      throw std::invalid_argument("unexpected argument " + k);
    }
  }
  if (!have_model) throw std::invalid_argument("no model given");
  if (a.batch < 1 || a.threads < 1 || a.runs < 1)
    throw std::invalid_argument("batch, threads and runs must be >= 1");
  if (a.batch > 1024) throw std::invalid_argument("batch too large");
  return a;
}

// A little-endian float32, C-order array from a .npy file (format 1.x-3.x).
struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<float> data;
};

// Reads path; throws std::runtime_error on anything but a C-order '<f4' array
// whose data size matches its shape.
inline NpyArray read_npy(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open " + path);
  char magic[8];
  if (!f.read(magic, 8) || std::memcmp(magic, "\x93NUMPY", 6) != 0)
    throw std::runtime_error(path + ": not a .npy file");
  uint32_t hlen = 0;
  if (magic[6] == 1) {
    unsigned char b[2];
    if (!f.read(reinterpret_cast<char*>(b), 2)) throw std::runtime_error(path + ": truncated");
    hlen = b[0] | (b[1] << 8);
  } else if (magic[6] == 2 || magic[6] == 3) {
    unsigned char b[4];
    if (!f.read(reinterpret_cast<char*>(b), 4)) throw std::runtime_error(path + ": truncated");
    hlen = b[0] | (b[1] << 8) | (b[2] << 16) | (uint32_t(b[3]) << 24);
  } else {
    throw std::runtime_error(path + ": unsupported .npy version");
  }
  if (hlen > 65536) throw std::runtime_error(path + ": header too long");
  std::string h(hlen, '\0');
  if (!f.read(h.data(), hlen)) throw std::runtime_error(path + ": truncated header");
  if (h.find("'descr': '<f4'") == std::string::npos ||
      h.find("'fortran_order': False") == std::string::npos)
    throw std::runtime_error(path + ": only C-order little-endian float32 is supported");
  const size_t open = h.find("'shape': (");
  const size_t close = open == std::string::npos ? open : h.find(')', open);
  if (close == std::string::npos) throw std::runtime_error(path + ": no shape in header");
  NpyArray a;
  int64_t count = 1;
  const char* p = h.c_str() + open + 10;
  const char* end = h.c_str() + close;
  while (p < end) {
    char* q = nullptr;
    const long long d = std::strtoll(p, &q, 10);
    if (q == p) break;
    if (d < 0 || d > (int64_t(1) << 32) || a.shape.size() >= 8)
      throw std::runtime_error(path + ": bad shape");
    a.shape.push_back(d);
    count *= d;
    if (count > (int64_t(1) << 31)) throw std::runtime_error(path + ": array too large");
    p = q;
    while (p < end && (*p == ',' || *p == ' ')) ++p;
  }
  a.data.resize(static_cast<size_t>(count));
  if (!f.read(reinterpret_cast<char*>(a.data.data()), count * 4))
    throw std::runtime_error(path + ": data shorter than its shape");
  return a;
}

// Writes a C-order float32 array as a version 1.0 .npy file.
inline void write_npy(const std::string& path, const std::vector<int64_t>& shape, const float* data,
                      size_t count) {
  std::string h = "{'descr': '<f4', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < shape.size(); ++i) h += std::to_string(shape[i]) + ", ";
  h += "), }";
  while ((10 + h.size() + 1) % 64 != 0) h += ' ';
  h += '\n';
  std::ofstream f(path, std::ios::binary);
  const unsigned char pre[10] = {0x93,
                                 'N',
                                 'U',
                                 'M',
                                 'P',
                                 'Y',
                                 1,
                                 0,
                                 static_cast<unsigned char>(h.size() & 0xff),
                                 static_cast<unsigned char>(h.size() >> 8)};
  f.write(reinterpret_cast<const char*>(pre), 10);
  f.write(h.data(), static_cast<std::streamsize>(h.size()));
  f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(count * 4));
  if (!f) throw std::runtime_error("cannot write " + path);
}

// Same 32-bit LCG as bench/ort_runner.js: uniform values in [-1, 1).
inline void fill_random(float* p, size_t n, int seed) {
  uint32_t s = static_cast<uint32_t>(seed) ? static_cast<uint32_t>(seed) : 1u;
  for (size_t i = 0; i < n; ++i) {
    s = s * 1664525u + 1013904223u;
    p[i] = static_cast<float>(s >> 8) / 8388608.0f - 1.0f;
  }
}

// The input shape: [batch,3,224,224], or the shape of --input (whose first
// dimension must equal --batch).
inline std::vector<int64_t> input_shape(const RunnerArgs& a) {
  if (a.input_npy.empty()) return {a.batch, 3, 224, 224};
  const NpyArray x = read_npy(a.input_npy);
  if (x.shape.size() != 4 || x.shape[0] != a.batch || x.shape[1] < 1 || x.shape[2] < 1 ||
      x.shape[3] < 1 || x.shape[1] > 4096 || x.shape[2] > 8192 || x.shape[3] > 8192)
    throw std::runtime_error(a.input_npy + ": expected shape [batch,C,H,W] with batch " +
                             std::to_string(a.batch));
  return x.shape;
}

// Fills the n floats of the input: from --input or seeded random values.
inline void fill_input(const RunnerArgs& a, float* p, size_t n) {
  if (a.input_npy.empty()) return fill_random(p, n, a.seed);
  const NpyArray x = read_npy(a.input_npy);
  if (x.data.size() != n) throw std::runtime_error(a.input_npy + ": size changed");
  std::memcpy(p, x.data.data(), n * sizeof(float));
}

// "dir/vgg16.opencv.onnx" -> "vgg16".
inline std::string model_name(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  const size_t dot = base.find('.');
  return dot == std::string::npos || dot == 0 ? base : base.substr(0, dot);
}

// Runs fn() warmup times untimed, then runs times timed; returns milliseconds.
template <typename Fn>
std::vector<double> time_runs(const RunnerArgs& a, Fn&& fn) {
  for (int i = 0; i < a.warmup; ++i) fn();
  std::vector<double> ms;
  ms.reserve(static_cast<size_t>(a.runs));
  for (int i = 0; i < a.runs; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    const auto t1 = std::chrono::steady_clock::now();
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  return ms;
}

inline void print_json(const char* peer, const RunnerArgs& a, const std::vector<double>& ms) {
  std::string model = model_name(a.model);
  std::string esc;
  for (char c : model) {
    if (c == '"' || c == '\\') esc += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) esc += c;
  }
  std::printf("{\"peer\":\"%s\",\"model\":\"%s\",\"batch\":%d,\"threads\":%d,\"times_ms\":[", peer,
              esc.c_str(), a.batch, a.threads);
  for (size_t i = 0; i < ms.size(); ++i) std::printf("%s%.3f", i ? "," : "", ms[i]);
  std::printf("]}\n");
  std::fflush(stdout);
}

}  // namespace bench
