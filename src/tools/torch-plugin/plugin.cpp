// build/libteesplit_torch_plugin.so: the CLI's LibTorch commands behind one
// entry point (tools/teesplit/torch_plugin.h). The static libraries linked into
// it stay hidden (--exclude-libs), so the plugin uses its own copies; nothing
// it throws leaves it.
#include <exception>
#include <new>

#include "tools/teesplit/torch_plugin.h"

namespace teesplit {
namespace {

template <class F>
bool guarded(std::string* error, F&& f) {
  try {
    f();
    return true;
  } catch (const std::bad_alloc&) {
    *error = "out of memory";
  } catch (const std::exception& e) {
    *error = e.what();
  } catch (...) {
    *error = "unknown error";
  }
  return false;
}

bool train(const TrainOptions& options, TrainResult* result, std::string* error) {
  return guarded(error, [&] { *result = train_model(options); });
}

bool attack(const AttackOptions& options, std::string* error) {
  return guarded(error, [&] { run_attacks(options); });
}

bool merge(const std::vector<std::string>& dirs, const std::string& output,
           const std::string& command, std::string* error) {
  return guarded(error, [&] { merge_attacks(dirs, output, command); });
}

}  // namespace
}  // namespace teesplit

extern "C" __attribute__((visibility("default"))) const teesplit::TorchPlugin*
teesplit_torch_plugin() {
  static const teesplit::TorchPlugin plugin{{teesplit::kTorchPluginAbi, TEESPLIT_VERSION},
                                            &teesplit::train,
                                            &teesplit::attack,
                                            &teesplit::merge};
  return &plugin;
}
