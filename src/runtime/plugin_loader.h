// Plugins: shared libraries from this build that a program loads with dlopen
// only when it needs them, so that what they link (CUDA, LibTorch) costs
// nothing to a program that never uses them. Two exist:
//   libteesplit_cuda.so          the CUDA backend (backends/cuda_plugin.h)
//   libteesplit_torch_plugin.so  the CLI's LibTorch commands: train, attack,
//                                attack-merge (tools/teesplit/torch_plugin.h)
// A plugin exports one extern "C" function that returns its table of entry
// points; the table starts with a PluginHeader, which the loader checks against
// this build (a plugin from another build shares no layout with it).
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <type_traits>

namespace teesplit {

// The first member of every plugin's table.
struct PluginHeader {
  uint32_t abi;         // the table's interface number in the plugin's build
  const char* version;  // TEESPLIT_VERSION of the plugin's build
};

struct PluginSpec {
  const char* file;   // "libteesplit_cuda.so"
  const char* env;    // a variable naming the file instead ("TEESPLIT_CUDA_PLUGIN")
  const char* entry;  // the exported function ("teesplit_cuda_plugin")
  const char* what;   // for messages: "the CUDA backend"
  uint32_t abi;       // the interface number this program expects
};

// Finds the plugin ($spec.env alone when set; else beside the running
// executable, then one directory up, for tools under build/bench/), loads it
// and returns its table's header; null with the reason in *why when the file
// is missing, cannot be loaded (dlopen's message, e.g. a missing library), has
// no entry, or comes from another build. Never unloads it. Not thread-safe:
// plugin_table() below loads once and keeps the result.
const PluginHeader* load_plugin(const PluginSpec& spec, std::string* why);

// The table of the plugin whose entry returns a Table (one that starts with its
// PluginHeader), loaded on the first call of this Table's instance and kept;
// null with the reason in *why when it cannot be used. Thread-safe.
template <class Table>
const Table* plugin_table(const PluginSpec& spec, std::string* why) {
  static_assert(std::is_standard_layout_v<Table>, "the PluginHeader must be the first member");
  static std::once_flag once;
  static const Table* table = nullptr;
  static std::string reason;
  std::call_once(once, [&] { table = reinterpret_cast<const Table*>(load_plugin(spec, &reason)); });
  if (!table && why) *why = reason;
  return table;
}

}  // namespace teesplit
