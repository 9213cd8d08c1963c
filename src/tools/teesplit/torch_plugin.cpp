#include "tools/teesplit/torch_plugin.h"

#include <mutex>
#include <type_traits>

#include "core/error.h"

namespace teesplit {

const TorchPlugin& torch_plugin() {
#ifdef TEESPLIT_HAVE_TORCH
  static std::once_flag once;
  static const TorchPlugin* plugin = nullptr;
  static std::string reason;
  std::call_once(once, [] {
    static_assert(std::is_standard_layout_v<TorchPlugin>, "the header must be the first member");
    const PluginSpec spec{kTorchPluginFile, "TEESPLIT_TORCH_PLUGIN", "teesplit_torch_plugin",
                          "the LibTorch plugin", kTorchPluginAbi};
    plugin = reinterpret_cast<const TorchPlugin*>(load_plugin(spec, &reason));
  });
  if (!plugin) fail(reason);
  return *plugin;
#else
  fail("this teesplit was built without LibTorch (apt-get install libtorch-dev, then rebuild)");
#endif
}

}  // namespace teesplit
