#include "train/onnx_weights.h"

#include <cstring>
#include <map>

#include "core/error.h"
#include "core/file.h"

namespace teesplit {

void replace_initializers(onnx::ModelProto& model,
                          const std::vector<std::pair<std::string, Tensor>>& values) {
  std::map<std::string, onnx::TensorProto*> by_name;
  for (auto& init : *model.mutable_graph()->mutable_initializer()) by_name[init.name()] = &init;
  for (const auto& [name, t] : values) {
    auto it = by_name.find(name);
    TS_CHECK(it != by_name.end(), "initializer '", name, "' is not in the model");
    onnx::TensorProto& p = *it->second;
    TS_CHECK(p.data_type() == onnx::TensorProto::FLOAT, "initializer '", name,
             "' is not float32 (ONNX type ", p.data_type(), ")");
    TS_CHECK(t.defined() && t.dtype() == DType::F32, "initializer '", name,
             "': the new value is not a float32 tensor");
    Shape dims(p.dims().begin(), p.dims().end());
    TS_CHECK(dims == t.shape(), "initializer '", name, "' has shape ", shape_str(dims),
             ", the new value ", shape_str(t.shape()));
    TS_CHECK(p.data_location() != onnx::TensorProto::EXTERNAL, "initializer '", name,
             "' uses external data, which is not supported here");
    p.clear_float_data();
    p.clear_raw_data();
    std::string raw(t.nbytes(), '\0');
    if (!raw.empty()) std::memcpy(raw.data(), t.raw(), raw.size());  // x86: little-endian
    p.set_raw_data(std::move(raw));
  }
}

void set_metadata(onnx::ModelProto& model, const std::string& key, const std::string& value) {
  for (auto& p : *model.mutable_metadata_props()) {
    if (p.key() == key) {
      p.set_value(value);
      return;
    }
  }
  auto* p = model.add_metadata_props();
  p->set_key(key);
  p->set_value(value);
}

void write_model_file(const onnx::ModelProto& model, const std::string& path) {
  std::string bytes;
  TS_CHECK(model.SerializeToString(&bytes), path, ": cannot serialise the model");
  write_file(path, bytes);
}

}  // namespace teesplit
