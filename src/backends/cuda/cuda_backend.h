// The GPU backend on cuDNN 9 and cuBLAS (built when the CUDA toolkit is found).
// compile() plans the graph (operator fusion, one liveness-planned activation
// arena), uploads the weights once, picks convolution algorithms once per conv
// shape (cached process-wide) and returns an executable that owns one CUDA
// stream with its cuDNN and cuBLAS handles. run() copies the inputs through a
// pinned host buffer, launches the step list on the stream, copies the outputs
// back and synchronises. An executable must not run on two threads at once.
//
// CompileOptions::tf32 (or TEESPLIT_CUDA_TF32=1) lets convolutions and GEMMs use
// TF32 tensor cores (about 1e-3 relative error); otherwise they compute in
// strict fp32 (CUDNN_FMA_MATH, CUBLAS_DEFAULT_MATH). TEESPLIT_CUDA_ALGO=heuristic
// picks conv algorithms by cuDNN's heuristics instead of timing them (find).
// TEESPLIT_CUDA_VERBOSE=1 prints every step and its algorithm at compile time;
// TEESPLIT_CUDA_PROFILE=1 times every step with CUDA events and prints the 30
// slowest (device ms per run, with the chosen algorithm) when the executable goes.
#pragma once

#include <memory>
#include <string>

#include "backends/backend.h"

namespace teesplit {

std::unique_ptr<Backend> make_cuda_backend();

// True when a CUDA device can be used; otherwise false and, when why is not
// null, the reason ("cudaGetDeviceCount: no CUDA-capable device is detected").
bool cuda_backend_device_available(std::string* why);

}  // namespace teesplit
