// Small numeric helpers for what teesplit prints: medians and byte sizes.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace teesplit {

// The median: the middle value of an odd count, the mean of the two middle
// values of an even count. Throws Error for an empty vector.
double median(std::vector<double> values);

// "512 B", "1.5 KiB", "23.0 MiB", "1.2 GiB" (binary units, one decimal).
std::string human_bytes(double bytes);

}  // namespace teesplit
