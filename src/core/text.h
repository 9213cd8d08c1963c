// Comma-separated lists as the command line takes them (--cuts, --attacks).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace teesplit {

// The items of a comma-separated list, in order, as written (no trimming). Throws
// Error naming `what` (e.g. "--cuts") and the list for an empty list or an empty
// item: two commas in a row, or a comma at either end.
std::vector<std::string> split_list(std::string_view list, std::string_view what);

}  // namespace teesplit
