// The fast CPU backend on oneDNN: fused, blocked-layout primitives created once
// per compiled graph, one planned activation arena, reference kernels for the
// operators oneDNN has no primitive for. An executable owns one arena, so its
// run() must not be called from two threads at once (compile one per thread).
//
// Environment switches for measurements (default on): TEESPLIT_ONEDNN_WINOGRAD,
// TEESPLIT_ONEDNN_BLOCKED (nChw16c activations), TEESPLIT_ONEDNN_SE_DW (channel
// scale as depthwise conv); TEESPLIT_ONEDNN_VERBOSE=1 prints every step and its
// implementation at compile time; TEESPLIT_ONEDNN_PROFILE=1 times every step and
// prints the slowest ones when the executable is destroyed.
#pragma once

#include <memory>

#include "backends/backend.h"

namespace teesplit {

std::unique_ptr<Backend> make_onednn_backend();

}  // namespace teesplit
