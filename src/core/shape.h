#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace teesplit {

// Dimensions of a tensor. A negative dimension means "not known yet" (a symbolic
// dimension such as the batch before a session fixes it).
using Shape = std::vector<int64_t>;

// Product of the dimensions; throws if any is unknown or the product overflows.
int64_t shape_numel(const Shape& s);
bool shape_known(const Shape& s);
std::string shape_str(const Shape& s);  // "[1,3,224,224]", "?" for unknown dims
// Normalises a possibly negative axis for a tensor of `rank` dims; throws if out of range.
int64_t normalize_axis(int64_t axis, int64_t rank);

}  // namespace teesplit
