// The CLI's LibTorch commands (train, attack, attack-merge) live in a plugin,
// build/libteesplit_torch_plugin.so (src/tools/torch-plugin/), loaded with
// dlopen when one of them runs. LibTorch's libraries take about 0.6 s and
// 150 MB to load; every other command (infer, serve, run, --help) starts
// without them.
//
// Plain C++ with no LibTorch headers: the plugin defines the entry point, the
// CLI calls it. Both come from the same build (runtime/plugin_loader.h checks
// kTorchPluginAbi and the version). Every function catches what it throws and
// returns false with the message in *error, so no exception crosses the
// boundary between the two copies of teesplit's static libraries.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "privacy/attack.h"
#include "runtime/plugin_loader.h"
#include "train/train.h"

namespace teesplit {

// Bump when TorchPlugin, TrainOptions, TrainResult or AttackOptions change.
constexpr uint32_t kTorchPluginAbi = 3;

struct TorchPlugin {
  PluginHeader header;  // kTorchPluginAbi and TEESPLIT_VERSION of the plugin's build
  bool (*train)(const TrainOptions& options, TrainResult* result, std::string* error);
  bool (*attack)(const AttackOptions& options, std::string* error);
  bool (*merge)(const std::vector<std::string>& dirs, const std::string& output,
                const std::string& command, std::string* error);
};

// Looked for beside the running executable and one directory up, unless
// $TEESPLIT_TORCH_PLUGIN names the file.
constexpr const char* kTorchPluginFile = "libteesplit_torch_plugin.so";

// The plugin, loaded on the first call; throws Error with the reason (built
// without LibTorch, the file missing, a LibTorch library missing) when it
// cannot be used. Thread-safe.
const TorchPlugin& torch_plugin();

}  // namespace teesplit

// The one symbol the plugin exports.
extern "C" const teesplit::TorchPlugin* teesplit_torch_plugin();
