// Escaping for the HTML report: every string that comes from a model or a file
// goes through one of these before it reaches the page.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace teesplit::report {

// Text for HTML element content and quoted attribute values: & < > " ' become
// character references. Invalid UTF-8 becomes U+FFFD, NUL and other C0
// controls but tab and newline are dropped, so the page stays valid UTF-8.
std::string escape_html(std::string_view text);

// JSON for a <script type="application/json"> element: nlohmann's dump (invalid
// UTF-8 replaced) with <, >, & and U+2028/U+2029 written as \u escapes, so that
// no string inside can close the element or start a comment, and the text is
// also valid JavaScript.
std::string json_for_script(const nlohmann::json& value);

// RFC 4648 base64 (with padding), for data: URIs and CSP hashes.
std::string base64(std::string_view bytes);

// Numbers for tables: "-" for a missing value, else fixed with `decimals`.
std::string fmt_number(const std::optional<double>& v, int decimals);

}  // namespace teesplit::report
