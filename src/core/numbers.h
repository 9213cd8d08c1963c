// Small numeric helpers for what teesplit prints: medians and byte sizes.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace teesplit {

// The median: the middle value of an odd count, the mean of the two middle
// values of an even count. Throws Error for an empty vector.
double median(std::vector<double> values);

// The p-th percentile (0 < p <= 100) by nearest rank: the smallest value with at
// least p% of the values at or below it (p99 of 100 values is the 99th).
// Throws Error for an empty vector or p outside (0, 100].
double percentile(std::vector<double> values, double p);

// "512 B", "1.5 KiB", "23.0 MiB", "1.2 GiB" (binary units, one decimal).
std::string human_bytes(double bytes);

}  // namespace teesplit
