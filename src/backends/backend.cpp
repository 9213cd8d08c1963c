#include "backends/backend.h"

namespace teesplit {

void check_run_inputs(const Graph& g, const std::vector<Tensor>& inputs) {
  TS_CHECK(inputs.size() == g.inputs.size(), "the model takes ", g.inputs.size(), " input(s), got ",
           inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Value& v = g.value(g.inputs[i]);
    TS_CHECK(inputs[i].dtype() == v.dtype, "input '", v.name, "' has type ",
             dtype_name(inputs[i].dtype()), ", the model expects ", dtype_name(v.dtype));
    TS_CHECK(inputs[i].shape() == v.shape, "input '", v.name, "' has shape ",
             shape_str(inputs[i].shape()), ", the model expects ", shape_str(v.shape));
  }
}

}  // namespace teesplit
