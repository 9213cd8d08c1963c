#include "core/text.h"

#include "core/error.h"

namespace teesplit {

std::vector<std::string> split_list(std::string_view list, std::string_view what) {
  TS_CHECK(!list.empty(), what, " is empty");
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t comma = list.find(',', start);
    const std::string_view item = list.substr(start, comma - start);
    TS_CHECK(!item.empty(), what, " '", list,
             "': an empty item (two commas in a row, or a comma at either end)");
    out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace teesplit
