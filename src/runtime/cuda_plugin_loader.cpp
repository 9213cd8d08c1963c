#include "runtime/cuda_plugin_loader.h"

#include <mutex>
#include <type_traits>

namespace teesplit {

#ifdef TEESPLIT_HAVE_CUDA
const CudaPlugin* cuda_plugin(std::string* why) {
  static std::once_flag once;
  static const CudaPlugin* plugin = nullptr;
  static std::string reason;
  std::call_once(once, [] {
    static_assert(std::is_standard_layout_v<CudaPlugin>, "the header must be the first member");
    const PluginSpec spec{kCudaPluginFile, "TEESPLIT_CUDA_PLUGIN", "teesplit_cuda_plugin",
                          "the CUDA backend", kCudaPluginAbi};
    plugin = reinterpret_cast<const CudaPlugin*>(load_plugin(spec, &reason));
  });
  if (!plugin && why) *why = reason;
  return plugin;
}
#else
const CudaPlugin* cuda_plugin(std::string* why) {
  if (why) *why = "teesplit was built without the CUDA backend";
  return nullptr;
}
#endif

}  // namespace teesplit
