// Element-wise activations shared by the planner and the CUDA kernels (no
// dependencies, so that nvcc and the host compiler both include it).
#pragma once

namespace teesplit::cuda {

// y = f(x) with parameters a, b:
//   Relu max(x,0); LeakyRelu x<0 ? a*x : x; Clip min(max(x,a),b);
//   Sigmoid 1/(1+e^-x); HardSigmoid max(0,min(1,a*x+b)); HardSwish x*max(0,min(1,x/6+1/2));
//   SiLU x*sigmoid(x); Tanh; Exp; Neg -x; Sqrt.
enum class Act : int {
  None,
  Relu,
  LeakyRelu,
  Clip,
  Sigmoid,
  HardSigmoid,
  HardSwish,
  SiLU,
  Tanh,
  Exp,
  Neg,
  Sqrt
};

struct ActSpec {
  Act kind = Act::None;
  float a = 0.f, b = 0.f;
};

}  // namespace teesplit::cuda
