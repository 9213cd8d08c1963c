// The CUDA backend is a plugin: build/libteesplit_cuda.so, loaded with dlopen the
// first time a program asks for the CUDA backend or whether a device can be used
// (runtime/session.cpp). Nothing else loads the CUDA, cuDNN and cuBLAS libraries,
// so a program that never uses the GPU starts without them (they took 0.35 s of
// every start-up) and runs on a machine that has none installed.
//
// This header is plain C++ (no CUDA headers): the plugin defines the entry point,
// the runtime calls it. The plugin comes from the same build as the program that
// loads it: the two share this struct and the Backend interface's layout, which
// kCudaPluginAbi and the version string check (runtime/plugin_loader.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "backends/backend.h"
#include "runtime/plugin_loader.h"

namespace teesplit {

// Bump when CudaPlugin or the Backend interface changes.
constexpr uint32_t kCudaPluginAbi = 2;

struct CudaPlugin {
  PluginHeader header;  // kCudaPluginAbi and TEESPLIT_VERSION of the plugin's build
  std::unique_ptr<Backend> (*make_backend)();
  // True when a CUDA device can be used; else false and the reason in *why.
  bool (*device_available)(std::string* why);
};

// The plugin's file name, looked for beside the running executable and one
// directory up (build/bench/ tools), unless $TEESPLIT_CUDA_PLUGIN names the file.
constexpr const char* kCudaPluginFile = "libteesplit_cuda.so";

}  // namespace teesplit

// The one symbol the plugin exports.
extern "C" const teesplit::CudaPlugin* teesplit_cuda_plugin();
