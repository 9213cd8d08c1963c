#include "tools/teesplit/torch_plugin.h"

#include "core/error.h"

namespace teesplit {

const TorchPlugin& torch_plugin() {
#ifdef TEESPLIT_HAVE_TORCH
  std::string why;
  const TorchPlugin* p =
      plugin_table<TorchPlugin>({kTorchPluginFile, "TEESPLIT_TORCH_PLUGIN", "teesplit_torch_plugin",
                                 "the LibTorch plugin", kTorchPluginAbi},
                                &why);
  if (!p) fail(why);
  return *p;
#else
  fail("this teesplit was built without LibTorch (apt-get install libtorch-dev, then rebuild)");
#endif
}

}  // namespace teesplit
