// Dropping root for `teesplit serve --user NAME` (docs/threat-model.md, "Running
// the host unprivileged"). The host starts as root only to raise the limit the
// workers' memfd_secret memory counts against, then becomes NAME for good,
// before it starts any worker or thread of its own: its workers run as NAME too, so that
// once they have locked themselves down (PR_SET_DUMPABLE 0) the host can
// neither ptrace them nor read their memory.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>

namespace teesplit {

struct PrivilegeDrop {
  std::string user;
  uid_t uid = 0;
  gid_t gid = 0;
  // True where RLIMIT_MEMLOCK's hard limit could not be raised (root without
  // CAP_SYS_RESOURCE, as in containers): the process keeps CAP_IPC_LOCK as
  // its only capability (ambient, so the workers inherit it) and no other.
  bool kept_ipc_lock = false;
  size_t memlock_bytes = 0;     // the RLIMIT_MEMLOCK soft limit afterwards
  std::string summary() const;  // one line for the log
};

// As root, before the caller starts threads of its own (threads a library
// started at load time, such as OpenBLAS's, are changed too: glibc applies id
// changes to every thread): sets RLIMIT_MEMLOCK to at least memlock_bytes
// (soft and hard), then switches every uid and gid to NAME's, with no
// supplementary groups, and checks that root cannot be regained and that every
// thread runs as NAME. Where the hard limit cannot be raised it keeps
// CAP_IPC_LOCK instead (above), in the calling thread and the threads and
// processes it starts afterwards; threads that existed before have none.
// Sets HOME, USER and LOGNAME to NAME's and unsets XDG_DATA_HOME, so that the
// default key paths are NAME's. Throws Error (nothing changed) when not root,
// or for an unknown user or uid 0; throws Error when a step fails midway (the
// caller must then exit).
PrivilegeDrop drop_privileges_to(const std::string& user, size_t memlock_bytes);

}  // namespace teesplit
