// The host side's glue between files and the runtime: ONNX models (libonnx,
// protobuf) into sessions. Nothing in src/host/ is linked into the enclave.
#pragma once

#include <memory>
#include <string>

#include "core/error.h"
#include "runtime/session.h"

namespace teesplit {

// Loads an ONNX model into a session; the error names the file.
Result<std::unique_ptr<Session>> open_model_session(const std::string& path,
                                                    const SessionOptions& opts = {});

}  // namespace teesplit
