#include "runtime/cuda_plugin_loader.h"

#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <vector>

#include "core/error.h"
#include "core/file.h"

namespace teesplit {

namespace fs = std::filesystem;

#ifdef TEESPLIT_HAVE_CUDA
namespace {

struct Loaded {
  const CudaPlugin* plugin = nullptr;
  std::string why;
};

// $TEESPLIT_CUDA_PLUGIN alone when set; else beside the executable, then one
// directory up (tools under build/bench/).
std::vector<fs::path> candidates() {
  if (const char* p = std::getenv("TEESPLIT_CUDA_PLUGIN"); p && *p) return {fs::path(p)};
  fs::path dir;
  try {
    dir = fs::path(running_executable()).parent_path();
  } catch (const Error&) {
    return {};  // reported as "beside the running executable"
  }
  return {dir / kCudaPluginFile, dir.parent_path() / kCudaPluginFile};
}

Loaded load() {
  Loaded out;
  const std::vector<fs::path> paths = candidates();
  for (const fs::path& path : paths) {
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) continue;
    // RTLD_LOCAL: its symbols do not resolve anybody else's. Never closed: the
    // backends and buffers it makes live until the process ends.
    void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
      const char* e = ::dlerror();
      out.why = "the CUDA backend " + path.string() + " cannot be loaded: " + (e ? e : "?");
      return out;
    }
    using Entry = const CudaPlugin* (*)();
    auto entry = reinterpret_cast<Entry>(::dlsym(handle, "teesplit_cuda_plugin"));
    const CudaPlugin* p = entry ? entry() : nullptr;
    if (!p) {
      out.why = path.string() + " is not a teesplit CUDA backend (no teesplit_cuda_plugin entry)";
    } else if (p->abi != kCudaPluginAbi || std::string(p->version) != TEESPLIT_VERSION) {
      out.why = path.string() + " is from another teesplit build (plugin interface " +
                std::to_string(p->abi) + ", version " + p->version + "; this program expects " +
                std::to_string(kCudaPluginAbi) + ", " + TEESPLIT_VERSION + ")";
    } else {
      out.plugin = p;
    }
    return out;
  }
  std::string where;
  for (const fs::path& p : paths) where += (where.empty() ? "" : ", ") + p.string();
  out.why = std::string("the CUDA backend (") + kCudaPluginFile + ") is missing: looked for " +
            (where.empty() ? std::string("it beside the running executable") : where);
  return out;
}

}  // namespace

const CudaPlugin* cuda_plugin(std::string* why) {
  static std::once_flag once;
  static Loaded loaded;
  std::call_once(once, [] { loaded = load(); });
  if (!loaded.plugin && why) *why = loaded.why;
  return loaded.plugin;
}
#else
const CudaPlugin* cuda_plugin(std::string* why) {
  if (why) *why = "teesplit was built without the CUDA backend";
  return nullptr;
}
#endif

}  // namespace teesplit
