// Child processes of this binary: the commands that run other teesplit
// commands (demo runs each stage as one; attack --jobs runs one per cut).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace teesplit {

// "teesplit ARGS" as a shell would take it back (every argument but plain
// words and paths single-quoted), for printing what runs.
std::string shell_line(const std::vector<std::string>& args);

// Starts `teesplit ARGS` (this binary) in a child process; its stdout to
// `out_file` and its stderr to `err_file` when given, else shared with ours.
// The child gets SIGTERM when this process ends, so that none outlives it.
pid_t spawn_self(const std::vector<std::string>& args, const std::string& out_file,
                 const std::string& err_file);

// A wait status as an exit code: the program's, or 128 + the signal that ended it.
int exit_code(int wait_status);

// Waits for child `pid` to end; its exit_code.
int wait_for(pid_t pid);

}  // namespace teesplit
