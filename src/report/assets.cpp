#include "report/assets.h"

namespace teesplit::report {
namespace {

// Generated at configure time from web/node_modules (cmake/web_assets.cmake).
constexpr char kVegaText[] =
#include "vega.min.js.inc"
    ;
constexpr char kVegaLiteText[] =
#include "vega_lite.min.js.inc"
    ;
constexpr char kVegaEmbedText[] =
#include "vega_embed.min.js.inc"
    ;
constexpr char kVersionsText[] =
#include "versions.inc"
    ;
constexpr char kLicencesText[] =
#include "licences.inc"
    ;

// A char array, not a string_view of the literal: its length is sizeof, not strlen.
template <size_t N>
constexpr std::string_view view(const char (&text)[N]) {
  return std::string_view(text, N - 1);
}

constexpr WebScript kScripts[] = {{"vega", view(kVegaText)},
                                  {"vega-lite", view(kVegaLiteText)},
                                  {"vega-embed", view(kVegaEmbedText)}};

}  // namespace

const WebScript* web_scripts(size_t* count) {
  *count = sizeof kScripts / sizeof kScripts[0];
  return kScripts;
}

bool web_scripts_built() {
  return sizeof kVegaText > 1;
}
std::string_view web_versions() {
  return view(kVersionsText);
}
std::string_view web_licences() {
  return view(kLicencesText);
}

}  // namespace teesplit::report
