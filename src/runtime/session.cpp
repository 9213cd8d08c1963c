#include "runtime/session.h"

#include "backends/onednn/onednn_backend.h"
#include "backends/reference/reference_backend.h"
#include "graph/passes.h"
#include "runtime/cuda_plugin_loader.h"

namespace teesplit {

std::unique_ptr<Backend> make_backend(BackendKind kind) {
  switch (kind) {
    case BackendKind::Reference:
      return make_reference_backend();
    case BackendKind::OneDnn:
      return make_onednn_backend();
    case BackendKind::Cuda: {
      std::string why;
      const CudaPlugin* cuda = cuda_plugin(&why);
      if (!cuda) fail(why);
      return cuda->make_backend();
    }
  }
  fail("unknown backend");
}

BackendKind parse_backend(const std::string& name) {
  if (name == "reference" || name == "ref") return BackendKind::Reference;
  if (name == "onednn" || name == "cpu") return BackendKind::OneDnn;
  if (name == "cuda" || name == "gpu") return BackendKind::Cuda;
  if (name == "auto") return cuda_device_available() ? BackendKind::Cuda : BackendKind::OneDnn;
  fail("unknown backend '", name, "' (choose cpu, onednn, cuda, auto or reference)");
}

const char* backend_kind_name(BackendKind kind) {
  switch (kind) {
    case BackendKind::Reference:
      return "reference";
    case BackendKind::OneDnn:
      return "onednn";
    case BackendKind::Cuda:
      return "cuda";
  }
  return "?";
}

bool cuda_device_available(std::string* why) {
  const CudaPlugin* cuda = cuda_plugin(why);
  return cuda && cuda->device_available(why);
}

Session::Session(Graph graph, SessionOptions opts)
    : graph_(std::move(graph)), opts_(opts), backend_(make_backend(opts.backend)) {}

Session::Compiled& Session::prepare(const std::vector<Shape>& input_shapes) {
  auto it = cache_.find(input_shapes);
  if (it != cache_.end()) return it->second;
  Compiled c;
  c.graph = specialize(graph_, input_shapes);
  CompileOptions co;
  co.threads = opts_.threads;
  co.tf32 = opts_.tf32;
  co.precision = opts_.precision;
  c.exe = backend_->compile(c.graph, co);
  return cache_.emplace(input_shapes, std::move(c)).first->second;
}

const Graph& Session::specialized(const std::vector<Shape>& input_shapes) {
  return prepare(input_shapes).graph;
}

Executable& Session::executable(const std::vector<Shape>& input_shapes) {
  return *prepare(input_shapes).exe;
}

std::vector<Tensor> Session::run(const std::vector<Tensor>& inputs) {
  TS_CHECK(inputs.size() == graph_.inputs.size(), "the model takes ", graph_.inputs.size(),
           " input(s), got ", inputs.size());
  std::vector<Shape> shapes;
  for (const Tensor& t : inputs) shapes.push_back(t.shape());
  return prepare(shapes).exe->run(inputs);
}

}  // namespace teesplit
