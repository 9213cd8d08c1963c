#include "serve/triton.h"

#include <filesystem>
#include <sstream>

#include "core/file.h"
#include "host/split_io.h"
#include "partition/split_dir.h"

namespace teesplit::serve {

namespace fs = std::filesystem;

namespace {

std::string dims_text(const Shape& s) {
  std::string out = "[ ";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + " ]";
}

}  // namespace

TritonModelConfig triton_model_config(const TritonRepoOptions& o) {
  TS_CHECK(!o.model_name.empty() && o.model_name.find_first_of("/ \"\n") == std::string::npos,
           "the Triton model name must be a plain directory name");
  TS_CHECK(o.max_batch >= 1, "max_batch_size must be at least 1 (the back partition batches)");
  TS_CHECK(o.max_queue_delay_us >= 0, "the queue delay must not be negative");
  TS_CHECK(o.instance_kind == "gpu" || o.instance_kind == "cpu", "instance kind '", o.instance_kind,
           "': gpu or cpu");
  TS_CHECK(o.instance_count >= 1, "at least one instance");
  auto opened = open_split_back(o.split_dir, {});
  if (!opened) fail(opened.error());
  const Graph& g = opened->session->graph();
  TS_CHECK(g.inputs.size() == 1 && g.outputs.size() == 1, o.split_dir,
           "/back.onnx: expected one input and one output");
  TritonModelConfig c;
  c.input_name = g.value(g.inputs[0]).name;
  c.output_name = g.value(g.outputs[0]).name;
  const Shape feature = opened->manifest.feature_shape;
  TS_CHECK(feature.size() >= 2 && feature[0] == 1, o.split_dir,
           "/manifest.json: the feature map has no batch dimension of 1");
  const Shape out = opened->session->run({Tensor(DType::F32, feature)})[0].shape();
  TS_CHECK(out.size() >= 2 && out[0] == 1, o.split_dir,
           "/back.onnx: the output has no batch dimension");
  c.input_dims.assign(feature.begin() + 1, feature.end());
  c.output_dims.assign(out.begin() + 1, out.end());

  std::ostringstream t;
  t << "# The back partition of a teesplit split (cut '" << opened->manifest.cut_name
    << "', back.onnx SHA-256 " << opened->manifest.back_sha256 << ")\n"
    << "# on Triton's ONNX Runtime backend; written by `teesplit triton-repo`.\n"
    << "name: \"" << o.model_name << "\"\n"
    << "backend: \"onnxruntime\"\n"
    << "max_batch_size: " << o.max_batch << "\n"
    << "input [\n  {\n    name: \"" << c.input_name << "\"\n    data_type: TYPE_FP32\n"
    << "    dims: " << dims_text(c.input_dims) << "\n  }\n]\n"
    << "output [\n  {\n    name: \"" << c.output_name << "\"\n    data_type: TYPE_FP32\n"
    << "    dims: " << dims_text(c.output_dims) << "\n  }\n]\n";
  if (o.max_queue_delay_us > 0)
    t << "dynamic_batching {\n  max_queue_delay_microseconds: " << o.max_queue_delay_us << "\n}\n";
  t << "instance_group [\n  {\n    count: " << o.instance_count
    << "\n    kind: " << (o.instance_kind == "gpu" ? "KIND_GPU" : "KIND_CPU") << "\n  }\n]\n";
  c.text = t.str();
  return c;
}

TritonModelConfig write_triton_repository(const TritonRepoOptions& o, const std::string& repo) {
  TritonModelConfig c = triton_model_config(o);
  // back.onnx as the manifest names it (its hash checked again on reading).
  const SplitFiles files = read_split_files(o.split_dir, /*with_back=*/true);
  const fs::path model = fs::path(repo) / o.model_name;
  std::error_code ec;
  fs::create_directories(model / "1", ec);
  TS_CHECK(!ec, "cannot create ", (model / "1").string(), ": ", ec.message());
  write_file((model / "1" / "model.onnx").string(), files.back_bytes);
  write_file((model / "config.pbtxt").string(), c.text);
  return c;
}

}  // namespace teesplit::serve
