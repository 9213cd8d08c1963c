// The fast CPU backend on oneDNN: fused, blocked-layout primitives created once
// per compiled graph, one planned activation arena, reference kernels for the
// operators oneDNN has no primitive for. An executable owns one arena, so its
// run() must not be called from two threads at once (compile one per thread).
//
// Environment switches for measurements (default on): TEESPLIT_ONEDNN_WINOGRAD,
// TEESPLIT_ONEDNN_BLOCKED (nChw16c activations), TEESPLIT_ONEDNN_SE_DW (channel
// scale as depthwise conv); TEESPLIT_ONEDNN_VERBOSE=1 prints every step and its
// implementation at compile time; TEESPLIT_ONEDNN_PROFILE=1 times every step and
// prints the slowest ones when the executable is destroyed. The fp32
// convolution tuner's switches (TEESPLIT_ONEDNN_TUNE, _TUNE_CACHE,
// _TUNE_BUDGET_MS, _TUNE_MIN_MFLOP, _CONV_IMPL): conv_tune.h and docs/usage.md,
// "oneDNN convolution tuning".
#pragma once

#include <memory>
#include <string>

#include "backends/backend.h"

namespace teesplit {

std::unique_ptr<Backend> make_onednn_backend();

// oneDNN's effective CPU ISA (after ONEDNN_MAX_CPU_ISA and the kernel's AMX
// permission), e.g. "avx512_core_amx", "avx512_core_bf16", "avx2".
std::string onednn_cpu_isa();
// Empty when oneDNN runs bf16 convolutions and inner products natively here
// (ISA avx512_core_bf16 or avx512_core_amx), else the reason it cannot, which
// compile() with Precision::BF16 raises as its error.
std::string onednn_bf16_unavailable();
// True when oneDNN's effective ISA includes AMX (avx512_core_amx).
bool onednn_has_amx();

}  // namespace teesplit
