// The chart scripts built into teesplit (cmake/web_assets.cmake, pinned by
// web/package-lock.json) and the licence texts of the npm packages they bundle.
#pragma once

#include <string_view>

namespace teesplit::report {

struct WebScript {
  std::string_view name;  // "vega", "vega-lite", "vega-embed"
  std::string_view text;  // the minified UMD script; defines a global
};

// False in a build configured with -DTEESPLIT_REPORT_CHARTS=OFF (no scripts).
bool web_scripts_built();
// In load order: vega, then vega-lite (needs vega), then vega-embed (needs both).
const WebScript* web_scripts(size_t* count);
// "vega 6.4.0\nvega-lite 6.5.0\nvega-embed 7.3.0\n"
std::string_view web_versions();
// "==== PACKAGE VERSION (LICENCE) ====\nTEXT\n\n" for every installed package.
std::string_view web_licences();

}  // namespace teesplit::report
