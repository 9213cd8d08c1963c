// Finds and loads the CUDA backend plugin (backends/cuda_plugin.h) once per
// process. Host side only: the enclave worker never links the runtime.
#pragma once

#include <string>

#include "backends/cuda_plugin.h"

namespace teesplit {

// The plugin, loaded on the first call; null when this build has no CUDA backend
// or the plugin cannot be loaded, with the reason in *why (the file looked for,
// or dlopen's message, e.g. a missing libcudart.so.13). Thread-safe.
const CudaPlugin* cuda_plugin(std::string* why = nullptr);

}  // namespace teesplit
