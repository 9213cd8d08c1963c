#include "runtime/plugin_loader.h"

#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
#include <vector>

#include "core/error.h"
#include "core/file.h"

#ifndef TEESPLIT_VERSION
#error "TEESPLIT_VERSION must be defined (CMakeLists.txt)"
#endif

namespace teesplit {

namespace fs = std::filesystem;

namespace {

std::vector<fs::path> candidates(const PluginSpec& spec) {
  if (const char* p = std::getenv(spec.env); p && *p) return {fs::path(p)};
  fs::path dir;
  try {
    dir = fs::path(running_executable()).parent_path();
  } catch (const Error&) {
    return {};  // reported as "beside the running executable"
  }
  return {dir / spec.file, dir.parent_path() / spec.file};
}

}  // namespace

const PluginHeader* load_plugin(const PluginSpec& spec, std::string* why) {
  std::string reason;
  const PluginHeader* found = nullptr;
  const std::vector<fs::path> paths = candidates(spec);
  bool tried = false;
  for (const fs::path& path : paths) {
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) continue;
    tried = true;
    // RTLD_LOCAL: its symbols resolve nobody else's. Never closed: what it makes
    // (backends, buffers) lives until the process ends.
    void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
      const char* e = ::dlerror();
      reason = std::string(spec.what) + " " + path.string() + " cannot be loaded: " + (e ? e : "?");
      break;
    }
    using Entry = const PluginHeader* (*)();
    auto entry = reinterpret_cast<Entry>(::dlsym(handle, spec.entry));
    const PluginHeader* p = entry ? entry() : nullptr;
    if (!p) {
      reason = path.string() + " is not " + spec.what + " (no " + spec.entry + " entry)";
    } else if (p->abi != spec.abi || std::string(p->version) != TEESPLIT_VERSION) {
      reason = path.string() + " is from another teesplit build (plugin interface " +
               std::to_string(p->abi) + ", version " + p->version + "; this program expects " +
               std::to_string(spec.abi) + ", " + TEESPLIT_VERSION + ")";
    } else {
      found = p;
    }
    break;
  }
  if (!tried) {
    std::string where;
    for (const fs::path& p : paths) where += (where.empty() ? "" : ", ") + p.string();
    reason = std::string(spec.what) + " (" + spec.file + ") is missing: looked for " +
             (where.empty() ? std::string("it beside the running executable") : where);
  }
  if (!found && why) *why = reason;
  return found;
}

}  // namespace teesplit
