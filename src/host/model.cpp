#include "host/model.h"

#include "onnx/onnx_import.h"

namespace teesplit {

Result<std::unique_ptr<Session>> open_model_session(const std::string& path,
                                                    const SessionOptions& opts) {
  auto g = load_onnx(path);
  if (!g) return Error(g.error());
  return capture([&] { return std::make_unique<Session>(std::move(g).value(), opts); });
}

}  // namespace teesplit
