// `teesplit zoo`: writes a zoo model to an ONNX file (see zoo_main in zoo.h).
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>

#include "core/error.h"
#include "zoo/zoo.h"
#include "zoo/zoo_proto.h"

namespace teesplit {
namespace {

constexpr const char* kUsage =
    "usage: teesplit zoo vgg16|resnet50|efficientnet_b0 [-o FILE] [--input-size S] "
    "[--channels C] [--classes K] [--width W] [--seed N] [--randomize-bn] [--static-batch] "
    "[--opset V]";

// Whole-string integer parse; throws Error naming the option.
template <class T>
T parse_int(const std::string& opt, const std::string& s) {
  T v{};
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  TS_CHECK(!s.empty() && ec == std::errc() && p == s.data() + s.size(), "zoo: ", opt,
           " expects an integer", std::is_signed_v<T> ? "" : " >= 0", ", got '", s, "'");
  return v;
}

double parse_double(const std::string& opt, const std::string& s) {
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(s.c_str(), &end);
  TS_CHECK(!s.empty() && end == s.c_str() + s.size() && errno == 0 && std::isfinite(v),
           "zoo: ", opt, " expects a number, got '", s, "'");
  return v;
}

}  // namespace

int zoo_main(int argc, char** argv) {
  ZooOptions opts;
  std::string out;
  try {
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      auto value = [&]() -> std::string {
        TS_CHECK(i + 1 < argc, "zoo: ", a, " needs a value");
        return argv[++i];
      };
      if (a == "-h" || a == "--help") {
        std::cout << kUsage << "\n";
        return 0;
      } else if (a == "-o" || a == "--output") {
        out = value();
        TS_CHECK(!out.empty(), "zoo: ", a, " needs a non-empty file name");
      } else if (a == "--input-size") {
        opts.input_size = parse_int<int64_t>(a, value());
      } else if (a == "--channels") {
        opts.channels = parse_int<int64_t>(a, value());
      } else if (a == "--classes") {
        opts.classes = parse_int<int64_t>(a, value());
      } else if (a == "--width") {
        opts.width = parse_double(a, value());
      } else if (a == "--seed") {
        opts.seed = parse_int<uint64_t>(a, value());
      } else if (a == "--opset") {
        opts.opset = parse_int<int64_t>(a, value());
      } else if (a == "--randomize-bn") {
        opts.randomize_bn = true;
      } else if (a == "--static-batch") {
        opts.dynamic_batch = false;
      } else if (!a.empty() && a[0] == '-') {
        fail("zoo: unknown option '", a, "'");
      } else {
        TS_CHECK(opts.arch.empty(), "zoo: more than one architecture given ('", opts.arch,
                 "' and '", a, "')");
        opts.arch = a;
      }
    }
    TS_CHECK(!opts.arch.empty(), "zoo: no architecture given (vgg16, resnet50 or efficientnet_b0)");
    validate_zoo_options(opts);
  } catch (const Error& e) {
    std::cerr << "error: " << e.what() << "\n" << kUsage << "\n";
    return 2;
  }
  if (out.empty()) out = opts.arch + ".onnx";

  try {
    int64_t params = 0;
    size_t bytes = 0;
    {
      std::string data;
      {
        onnx::ModelProto m = zoo_model_proto(opts);
        params = count_parameters(m);
        TS_CHECK(m.SerializeToString(&data), "zoo: serializing ", opts.arch, " failed");
      }
      std::ofstream f(out, std::ios::binary | std::ios::trunc);
      TS_CHECK(f, out, ": cannot open for writing");
      f.write(data.data(), static_cast<std::streamsize>(data.size()));
      f.close();
      TS_CHECK(f, out, ": write failed (", data.size(), " bytes)");
      bytes = data.size();
    }
    std::cout << out << ": " << opts.arch << " input " << opts.channels << "x" << opts.input_size
              << "x" << opts.input_size << ", " << opts.classes << " classes, " << params
              << " params, " << bytes << " bytes\n";
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace teesplit
