# The chart scripts of teesplit's HTML report (src/report): Vega, Vega-Lite and
# vega-embed, pinned by web/package-lock.json and installed into web/node_modules by
# `npm ci --ignore-scripts` (scripts/build.sh runs it). Each minified script and the
# licence texts of every package installed there become a raw string literal in
# ${TEESPLIT_WEB_ASSETS_DIR}/*.inc, built into teesplit_report (report/assets.cpp),
# so that `teesplit report` needs nothing at run time.
set(_web ${CMAKE_SOURCE_DIR}/web)
set(TEESPLIT_WEB_ASSETS_DIR ${CMAKE_BINARY_DIR}/web)
# name, package folder, script inside it
set(_web_scripts
    "vega|vega|build/vega.min.js"
    "vega_lite|vega-lite|build/vega-lite.min.js"
    "vega_embed|vega-embed|build/vega-embed.min.js")
option(TEESPLIT_REPORT_CHARTS
       "Build the report's chart scripts (web/node_modules) into teesplit; OFF: teesplit report refuses to run"
       ON)
# Writes CONTENT as a raw string literal to NAME.inc (rewritten only when it changes).
function(_web_literal name content)
  string(FIND "${content}" ")TSWEB\"" _clash)
  if(NOT _clash EQUAL -1)
    message(FATAL_ERROR "teesplit: ${name} contains the raw-string delimiter )TSWEB\"")
  endif()
  file(WRITE ${TEESPLIT_WEB_ASSETS_DIR}/${name}.inc.tmp "R\"TSWEB(${content})TSWEB\"\n")
  configure_file(${TEESPLIT_WEB_ASSETS_DIR}/${name}.inc.tmp ${TEESPLIT_WEB_ASSETS_DIR}/${name}.inc
                 COPYONLY)
endfunction()

if(NOT TEESPLIT_REPORT_CHARTS)
  # For builds that never write a report (the fuzzers, the sanitizer and device
  # checks, the enclave's reproducibility check): empty scripts, and teesplit
  # report says how to get a build with them.
  message(STATUS "teesplit: TEESPLIT_REPORT_CHARTS=OFF: teesplit report is disabled in this build")
  foreach(_name vega.min.js vega_lite.min.js vega_embed.min.js versions licences)
    _web_literal(${_name} "")
  endforeach()
  return()
endif()

set(_web_missing)
foreach(_entry ${_web_scripts})
  string(REPLACE "|" ";" _f "${_entry}")
  list(GET _f 1 _pkg)
  list(GET _f 2 _file)
  if(NOT EXISTS ${_web}/node_modules/${_pkg}/${_file})
    list(APPEND _web_missing web/node_modules/${_pkg}/${_file})
  endif()
endforeach()
if(_web_missing)
  string(REPLACE ";" ", " _web_missing "${_web_missing}")
  message(FATAL_ERROR
          "teesplit: the HTML report's chart scripts are missing (${_web_missing}). Install them "
          "as web/package-lock.json pins them, then configure again:\n"
          "  (cd web && npm ci --ignore-scripts)\n"
          "scripts/build.sh does this; node and npm come from scripts/install-deps.sh. A build that "
          "needs no report can configure with -DTEESPLIT_REPORT_CHARTS=OFF.")
endif()

set(_web_versions "")
foreach(_entry ${_web_scripts})
  string(REPLACE "|" ";" _f "${_entry}")
  list(GET _f 0 _name)
  list(GET _f 1 _pkg)
  list(GET _f 2 _file)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
                                         ${_web}/node_modules/${_pkg}/${_file})
  file(READ ${_web}/node_modules/${_pkg}/${_file} _text)
  # Inlined into a <script> element: it must not end the element or open a comment.
  string(TOLOWER "${_text}" _lower)
  string(FIND "${_lower}" "</script" _end_tag)
  string(FIND "${_text}" "<!--" _comment)
  if(NOT _end_tag EQUAL -1 OR NOT _comment EQUAL -1)
    message(FATAL_ERROR "teesplit: ${_pkg}/${_file} contains </script or <!--; it cannot be inlined")
  endif()
  _web_literal(${_name}.min.js "${_text}")
  file(READ ${_web}/node_modules/${_pkg}/package.json _pj)
  string(JSON _version GET "${_pj}" version)
  string(APPEND _web_versions "${_pkg} ${_version}\n")
endforeach()
_web_literal(versions "${_web_versions}")

# Licences: every package web/package-lock.json installs (the scripts above bundle
# their dependencies), in the lock file's order, each with its licence file.
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${_web}/package-lock.json)
file(READ ${_web}/package-lock.json _lock)
string(JSON _n LENGTH "${_lock}" packages)
math(EXPR _last "${_n} - 1")
set(_licences "")
foreach(_i RANGE ${_last})
  string(JSON _path MEMBER "${_lock}" packages ${_i})
  if(_path STREQUAL "")
    continue()  # the root project itself
  endif()
  string(JSON _version ERROR_VARIABLE _err GET "${_lock}" packages "${_path}" version)
  string(JSON _licence ERROR_VARIABLE _err GET "${_lock}" packages "${_path}" license)
  string(REGEX REPLACE ".*node_modules/" "" _pkg "${_path}")
  file(GLOB _files LIST_DIRECTORIES false ${_web}/${_path}/LICEN[CS]E* ${_web}/${_path}/licen[cs]e*
       ${_web}/${_path}/COPYING*)
  string(APPEND _licences "==== ${_pkg} ${_version} (${_licence}) ====\n")
  if(_files)
    list(SORT _files)
    list(GET _files 0 _lf)
    file(READ ${_lf} _text)
    string(STRIP "${_text}" _text)
    string(APPEND _licences "${_text}\n\n")
  else()
    string(APPEND _licences "(no licence file in the package; its package.json says ${_licence})\n\n")
  endif()
endforeach()
_web_literal(licences "${_licences}")
