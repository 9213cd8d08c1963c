// A session runs one model on one backend. It specialises the graph for the
// input shapes it is given (so a dynamic batch works) and caches one compiled
// executable per distinct set of input shapes.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "core/error.h"
#include "graph/ir.h"

namespace teesplit {

enum class BackendKind { Reference, OneDnn, Cuda };

// Throws Error("teesplit was built without the CUDA backend") for Cuda when the
// CUDA backend is not compiled in.
std::unique_ptr<Backend> make_backend(BackendKind kind);
// "reference"|"ref", "onednn"|"cpu", "cuda"|"gpu", or "auto": cuda when a CUDA
// device can be used, else onednn.
BackendKind parse_backend(const std::string& name);
// "reference", "onednn" or "cuda".
const char* backend_kind_name(BackendKind kind);
// True when the CUDA backend is compiled in and a CUDA device can be used; else
// false and, when why is not null, the reason.
bool cuda_device_available(std::string* why = nullptr);

struct SessionOptions {
  BackendKind backend = BackendKind::OneDnn;
  int threads = 0;                       // 0: all cores
  bool tf32 = false;                     // CUDA: allow TF32 tensor cores (CompileOptions::tf32)
  Precision precision = Precision::F32;  // CompileOptions::precision
};

class Session {
 public:
  // The graph as imported (host/model.h: open_model_session loads an ONNX file).
  Session(Graph graph, SessionOptions opts);

  const Graph& graph() const { return graph_; }
  std::vector<Tensor> run(const std::vector<Tensor>& inputs);
  // Host memory that this session's backend reads its inputs from fastest
  // (Backend::host_buffer: page-locked for CUDA; Tensor::adopt wraps it).
  std::shared_ptr<std::byte> host_buffer(size_t bytes) { return backend_->host_buffer(bytes); }
  // The specialised graph and compiled executable for these input shapes.
  const Graph& specialized(const std::vector<Shape>& input_shapes);
  Executable& executable(const std::vector<Shape>& input_shapes);

 private:
  struct Compiled {
    Graph graph;
    std::unique_ptr<Executable> exe;
  };
  Compiled& prepare(const std::vector<Shape>& input_shapes);
  Graph graph_;
  SessionOptions opts_;
  std::unique_ptr<Backend> backend_;
  std::map<std::vector<Shape>, Compiled> cache_;
};

}  // namespace teesplit
