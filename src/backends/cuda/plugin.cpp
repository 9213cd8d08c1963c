// The plugin's entry point (backends/cuda_plugin.h): the only symbol
// libteesplit_cuda.so exports besides its own backend's; the static libraries
// linked into it stay hidden (--exclude-libs), so the plugin uses its own copies.
#include "backends/cuda_plugin.h"

#include "backends/cuda/cuda_backend.h"

extern "C" __attribute__((visibility("default"))) const teesplit::CudaPlugin*
teesplit_cuda_plugin() {
  static const teesplit::CudaPlugin plugin{{teesplit::kCudaPluginAbi, TEESPLIT_VERSION},
                                           &teesplit::make_cuda_backend,
                                           &teesplit::cuda_backend_device_available};
  return &plugin;
}
