// The name of a gRPC status code as the gRPC documentation spells it
// ("UNAVAILABLE"), for error messages and the errors metric.
#pragma once

#include <grpcpp/support/status.h>

namespace teesplit::serve {

const char* status_code_name(grpc::StatusCode code);

}  // namespace teesplit::serve
