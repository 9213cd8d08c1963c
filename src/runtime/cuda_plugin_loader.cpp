#include "runtime/cuda_plugin_loader.h"

namespace teesplit {

const CudaPlugin* cuda_plugin(std::string* why) {
#ifdef TEESPLIT_HAVE_CUDA
  return plugin_table<CudaPlugin>({kCudaPluginFile, "TEESPLIT_CUDA_PLUGIN", "teesplit_cuda_plugin",
                                   "the CUDA backend", kCudaPluginAbi},
                                  why);
#else
  if (why) *why = "teesplit was built without the CUDA backend";
  return nullptr;
#endif
}

}  // namespace teesplit
