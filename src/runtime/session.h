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

enum class BackendKind { Reference, OneDnn };

std::unique_ptr<Backend> make_backend(BackendKind kind);
BackendKind parse_backend(const std::string& name);  // "reference"|"ref", "onednn"|"cpu"

struct SessionOptions {
  BackendKind backend = BackendKind::OneDnn;
  int threads = 0;  // 0: all cores
};

class Session {
 public:
  Session(Graph graph, SessionOptions opts);
  // Loads an ONNX model; the error names the file.
  static Result<std::unique_ptr<Session>> open(const std::string& path, SessionOptions opts = {});

  const Graph& graph() const { return graph_; }
  std::vector<Tensor> run(const std::vector<Tensor>& inputs);
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
