#!/usr/bin/env bash
# Fresh-machine check: builds a minimal Debian 12 root with debootstrap, copies in a
# clean checkout of a commit (git clone: nothing untracked or ignored comes along),
# and inside it, as root, runs scripts/install-deps.sh, the README's main command
# (bash scripts/main.sh) and the README's test command (bash scripts/test.sh, the whole
# suite; --tests quick: a test build and the quick tests). Each stage's wall time is
# printed, each stage keeps a log, and the last line says PASS or FAIL; the exit status
# is non-zero on any failure. Needs root, debootstrap, chroot, git and network access
# to the Debian archive and the npm registry. docs/testing.md, "Fresh-machine check".
set -euo pipefail

usage() {
  cat <<'EOF'
usage: scripts/fresh-machine-check.sh [options]

  --rev REV           commit to check (default HEAD of this checkout; only committed
                      files are checked)
  --work-dir DIR      where the root is built (default $TEESPLIT_FRESH_DIR or
                      /var/tmp/teesplit-fresh); it is deleted at the end
  --logs DIR          where the stage logs go (default build-fresh-check/UTC-STAMP)
  --root-cache FILE   reuse a pristine debootstrap tarball (env TEESPLIT_FRESH_ROOT_CACHE):
                      extracted if FILE exists, else written after debootstrap. It holds
                      only debootstrap's output, so the install is still checked.
  --mirror URL        Debian mirror (env TEESPLIT_DEBIAN_MIRROR, default
                      http://deb.debian.org/debian)
  --main-args "ARGS"  arguments for scripts/main.sh, split on spaces (env TEESPLIT_MAIN_ARGS;
                      default none: the full main job)
  --tests full|quick  full (default; env TEESPLIT_FRESH_TESTS): the README's test command,
                      CI=true bash scripts/test.sh, the whole suite; quick: a test build and
                      the quick tests below (faster, for checking an install step)
  --ctest-args "ARGS" with --tests quick, the ctest selection, split on spaces (env
                      TEESPLIT_FRESH_CTEST_ARGS; default: every test but a few slow ones)
  --tmpfs SIZE        build the root in a tmpfs of at most SIZE (e.g. 12G) instead of on
                      disk: faster install and cleanup, costs that much memory at most
  --keep-root         keep the root (unmounted) for inspection; not with --tmpfs
  -h, --help          this help
EOF
}

repo=$(cd "$(dirname "$0")/.." && pwd)
rev=HEAD
work=${TEESPLIT_FRESH_DIR:-/var/tmp/teesplit-fresh}
logs=""
cache=${TEESPLIT_FRESH_ROOT_CACHE:-}
mirror=${TEESPLIT_DEBIAN_MIRROR:-http://deb.debian.org/debian}
main_args=${TEESPLIT_MAIN_ARGS:-}
# The quick tests: everything (unit and models labels, so every oracle that needs an
# installed package runs: Python, PyTorch, PIL, ONNX Runtime, LibTorch, the data set)
# except the slowest tests that exercise no dependency the others miss (the main
# stage already ran demo --quick; one attack pipeline test stays); CI's full suite
# runs them. Names that no longer exist simply match nothing.
ctest_args=${TEESPLIT_FRESH_CTEST_ARGS:-"-E Split\.(Sample224|AllCuts|CutsPeakMemory)|vgg16|Cli\.(EverySubcommandAnswersHelp|UsageErrorsExitTwoWithOneLine|DemoQuickRunsEveryStage)|PrivacyPipeline\.(ShardsMerge|Tabular)"}
tests_mode=${TEESPLIT_FRESH_TESTS:-full}
keep_root=0
tmpfs_size=""
while [ $# -gt 0 ]; do
  case "$1" in
    --rev) rev=$2; shift 2 ;;
    --work-dir) work=$2; shift 2 ;;
    --logs) logs=$2; shift 2 ;;
    --root-cache) cache=$2; shift 2 ;;
    --mirror) mirror=$2; shift 2 ;;
    --main-args) main_args=$2; shift 2 ;;
    --ctest-args) ctest_args=$2; shift 2 ;;
    --tests) tests_mode=$2; shift 2 ;;
    --keep-root) keep_root=1; shift ;;
    --tmpfs) tmpfs_size=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "fresh-machine-check: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done

die() { echo "fresh-machine-check: $*" >&2; exit 2; }
[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, chroot, mount)"
for tool in debootstrap chroot git mount umount; do
  command -v "$tool" >/dev/null || die "needs $tool (apt-get install debootstrap git)"
done
sha=$(git -C "$repo" rev-parse --verify --quiet "$rev^{commit}") || die "no commit $rev in $repo"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
logs=${logs:-$repo/build-fresh-check/$stamp}
mkdir -p "$logs" "$work"
logs=$(cd "$logs" && pwd)
work=$(cd "$work" && pwd)
root=$work/root-$stamp-$$
[ -z "$tmpfs_size" ] || [ "$keep_root" = 0 ] || die "--keep-root and --tmpfs exclude each other"
case "$tests_mode" in full | quick) ;; *) die "--tests takes full or quick, not '$tests_mode'" ;; esac
read -ra main_argv <<<"$main_args"
read -ra ctest_argv <<<"$ctest_args"

# ---- roots left by runs that were killed (SIGKILL, a lost machine): unmount, delete ----
sweep_stale_roots() {
  local stale pid m
  for stale in "$work"/root-*-*; do
    [ -d "$stale" ] || continue
    pid=${stale##*-}
    [[ $pid =~ ^[0-9]+$ ]] && [ -d "/proc/$pid" ] && continue  # its run is still going
    echo "fresh-machine-check: removing $stale, left by a run that did not finish"
    # Deepest mount first; lazily if busy.
    while read -r m; do
      umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
    done < <(awk -v r="$stale" '$5 == r || index($5, r "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r)
    if awk -v r="$stale" '$5 == r || index($5, r "/") == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo; then
      echo "fresh-machine-check: something is still mounted under $stale; left in place" >&2
    else
      rm -rf --one-file-system "$stale"
    fi
  done
}
sweep_stale_roots

# ---- cleanup: stop what runs inside the root, unmount everything, delete the root ----
mounts=()  # mount points inside the root, in mounting order
child=""   # the running stage
torn_down=0
teardown() {
  local pid m i
  [ "$torn_down" = 0 ] || return 0
  torn_down=1
  set +e
  [ -z "$child" ] || kill -TERM "$child" 2>/dev/null
  if [ -d "$root" ]; then
    for pid in /proc/[0-9]*; do  # processes this check started in the root
      [ "$(readlink "$pid/root" 2>/dev/null)" = "$root" ] && kill -KILL "${pid#/proc/}" 2>/dev/null
    done
  fi
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
    m=${mounts[i]}
    umount "$m" 2>/dev/null || umount -l "$m" || echo "fresh-machine-check: could not unmount $m" >&2
  done
  if [ -d "$root" ]; then
    if awk -v r="$root/" 'index($5 "/", r) == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo; then
      echo "fresh-machine-check: something is still mounted under $root; not deleting it" >&2
    elif [ "$keep_root" = 1 ]; then
      echo "fresh-machine-check: root kept at $root"
    else
      rm -rf --one-file-system "$root"
    fi
  fi
  set -e
}
finished=0
on_exit() {
  local rc=$1
  teardown
  [ "$finished" = 1 ] || [ "$rc" = 0 ] || echo "fresh-machine-check: FAIL (stopped with exit status $rc)"
  exit "$rc"
}
trap 'on_exit $?' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- stages ----
declare -a summary
t_all=$(date +%s.%N)
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }'; }
fmt() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }
finish() {  # finish STATUS WHAT: unmounts and deletes the root, prints the summary
  local total t0
  [ -z "$tmpfs_size" ] || summary+=("root in tmpfs: $(df -h --output=used "$root" | tail -1 | tr -d ' ') used at the end")
  t0=$(date +%s.%N)
  teardown
  summary+=("$(printf '%-11s %8s' cleanup "$(fmt "$(elapsed "$t0")")")")
  total=$(elapsed "$t_all")
  echo
  printf '  %s\n' "${summary[@]}"
  echo "logs: $logs"
  finished=1
  echo "fresh-machine-check: $1 ($2; commit ${sha:0:12}, total $(fmt "$total"))"
  [ "$1" = PASS ]
}
n=0
stage() {  # stage NAME COMMAND...: runs COMMAND, output to its own log; stops the check on failure
  local name=$1 t0 secs rc=0 log
  shift
  n=$((n + 1))
  log=$(printf '%s/%02d-%s.log' "$logs" "$n" "$name")
  echo "== $name ($(date -u +%H:%M:%S)) log: $log"
  t0=$(date +%s.%N)
  "$@" >"$log" 2>&1 </dev/null &
  child=$!
  wait "$child" || rc=$?
  child=""
  secs=$(elapsed "$t0")
  summary+=("$(printf '%-11s %8s  %s' "$name" "$(fmt "$secs")" "$([ $rc = 0 ] && echo ok || echo "FAILED (exit $rc)")")")
  # show_from=REGEX (set for the call): print the log from the first line matching REGEX
  # on, unchanged (the tests stage: ctest's summary, its failures and the skip report).
  if [ -n "${show_from:-}" ] && grep -qE "$show_from" "$log"; then
    awk -v re="$show_from" 'on || $0 ~ re { on = 1; print }' "$log"
  fi
  if [ $rc != 0 ]; then
    echo "-- last lines of $log:"
    tail -n 30 "$log" | sed 's/^/   | /'
    finish FAIL "stage $name failed"
    exit 1
  fi
  echo "   $name: $(fmt "$secs")"
}

# Certificate authorities the host's administrator added (/usr/local/share/ca-certificates,
# e.g. for a TLS-inspecting proxy) go into the root like resolv.conf: network setup, not
# packages. ca-certificates' own postinst (pulled in by install-deps.sh) bundles them.
host_cas=()
for f in /usr/local/share/ca-certificates/*.crt; do [ -f "$f" ] && host_cas+=("$f"); done

# Runs a shell command in the root, as root, in the checkout, with a clean environment.
in_root() {
  local env=(HOME=/root LANG=C.UTF-8 TERM=dumb
             PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)
  local v
  for v in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
    [ -n "${!v:-}" ] && env+=("$v=${!v}")
  done
  # Node.js trusts its own CA list unless told; npm must see the added authorities too.
  [ ${#host_cas[@]} = 0 ] || env+=(NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt)
  chroot "$root" /usr/bin/env -i "${env[@]}" bash -c "set -euo pipefail; cd /root/teesplit; $1"
}
quoted() { [ $# = 0 ] || printf ' %q' "$@"; }

make_root() {
  if [ -n "$cache" ] && [ -f "$cache" ]; then
    echo "extracting the pristine root from $cache ($(stat -c %y "$cache"))"
    mkdir -p "$root"
    tar -xpf "$cache" --numeric-owner -C "$root"
  else
    debootstrap --variant=minbase bookworm "$root" "$mirror"
    if [ -n "$cache" ]; then
      echo "saving the pristine root to $cache"
      local tmp
      tmp=$(dirname "$cache")/.tmp$$-$(basename "$cache")  # same suffix: tar -a compresses by it
      tar -capf "$tmp" --numeric-owner -C "$root" . && mv "$tmp" "$cache"
    fi
  fi
  # The suites of a standard Debian 12 install (debootstrap writes only the first).
  local sec=${mirror%/debian}/debian-security
  [ "$mirror" = "http://deb.debian.org/debian" ] || sec=http://deb.debian.org/debian-security
  cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $sec bookworm-security main
EOF
  # As in Debian's own container images: no fsync per unpacked file (the same packages
  # get installed, faster), and no daemons start inside a chroot.
  echo force-unsafe-io >"$root/etc/dpkg/dpkg.cfg.d/unsafe-io"
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
  chmod 755 "$root/usr/sbin/policy-rc.d"
  cp -L /etc/resolv.conf "$root/etc/resolv.conf"
  if [ ${#host_cas[@]} -gt 0 ]; then
    mkdir -p "$root/usr/local/share/ca-certificates"
    cp -L "${host_cas[@]}" "$root/usr/local/share/ca-certificates/"
    echo "copied the host's added CA certificates: ${host_cas[*]}"
  fi
  grep -E '^(PRETTY_NAME|VERSION_ID)' "$root/etc/os-release"
}

copy_checkout() {
  # git clone, not a copy of the working tree: untracked and ignored files (build/,
  # bench/node_modules, ...) never reach the root, only commit $sha does.
  git clone --quiet --no-hardlinks --no-checkout "$repo" "$root/root/teesplit"
  git -C "$root/root/teesplit" -c advice.detachedHead=false checkout --quiet --detach "$sha"
  git -C "$root/root/teesplit" log -1 --format='checked out %H %s'
  git -C "$root/root/teesplit" status --short --ignored | sed 's/^/unexpected: /'
}

mnt() {  # mnt MOUNT-ARGS... POINT: mounts, and records POINT for the cleanup
  mount "$@" || die "mount $* failed"
  mounts+=("${*: -1}")
}
mount_root() {
  mnt -t proc proc "$root/proc"
  mnt -t sysfs -o ro sysfs "$root/sys"
  # A /dev of the root's own, never the host's (a bind mount, or devtmpfs, which is one
  # instance for the whole kernel): deleting the root, even by hand while a killed run
  # left it mounted, must not delete the host's device nodes. apt, Python and npm need
  # these few.
  mnt -t tmpfs -o nosuid,mode=0755 fresh-dev "$root/dev"
  local node
  for node in "null 1 3" "zero 1 5" "full 1 7" "random 1 8" "urandom 1 9" "tty 5 0"; do
    set -- $node
    mknod -m 666 "$root/dev/$1" c "$2" "$3" || die "mknod $root/dev/$1 failed"
  done
  ln -s /proc/self/fd "$root/dev/fd"
  ln -s /proc/self/fd/0 "$root/dev/stdin"
  ln -s /proc/self/fd/1 "$root/dev/stdout"
  ln -s /proc/self/fd/2 "$root/dev/stderr"
  ln -s pts/ptmx "$root/dev/ptmx"
  mkdir -p "$root/dev/pts" "$root/dev/shm"
  mnt -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$root/dev/pts"  # dpkg's terminal
  mnt -t tmpfs -o nosuid,nodev,mode=1777 shm "$root/dev/shm"  # POSIX shared memory (Python)
  findmnt -R "$root" >"$logs/mounts.log" 2>&1 || true
}

echo "fresh-machine-check: commit $(git -C "$repo" log -1 --format='%h %s' "$sha")"
if [ "$rev" = HEAD ] && [ -n "$(git -C "$repo" status --porcelain --untracked-files=no)" ]; then
  echo "fresh-machine-check: note: uncommitted changes in $repo are not checked"
fi
echo "root: $root"

if [ -n "$tmpfs_size" ]; then
  mkdir -p "$root"
  mnt -t tmpfs -o "size=$tmpfs_size,mode=0755" fresh-root "$root"
fi
stage root make_root
stage checkout copy_checkout
mount_root  # not in a stage: the cleanup must know the mounts

# install-deps.sh must work on a root that has never run apt-get update.
stage install in_root 'bash scripts/install-deps.sh'
# The build of the main command, alone first so that its time shows; main.sh then finds
# it up to date (if main.sh's build options change, it rebuilds, and the main stage shows it).
stage build in_root 'bash scripts/build.sh -DTEESPLIT_TESTS=OFF -DTEESPLIT_BENCH=OFF &&
  grep -E "^(CMAKE_CUDA_COMPILER|TEESPLIT_CUDA|TEESPLIT_TORCH|Torch_DIR)[:=]" build/CMakeCache.txt'
echo "   $(grep -q '^CMAKE_CUDA_COMPILER:.*NOTFOUND' "$logs/$(printf %02d $n)-build.log" &&
  echo 'CUDA: no toolkit in the root, backend off' || echo 'CUDA: see the build log')"
stage main in_root "bash scripts/main.sh$(quoted "${main_argv[@]}")"
if [ "$tests_mode" = full ]; then
  # The README's test command exactly: it installs (already done: apt finds nothing to
  # do), adds the tests to the same build, installs ONNX Runtime in bench/, runs the whole
  # suite and the skip report. CI=true: a skip for anything but missing hardware fails.
  show_from='^[0-9]+% tests passed' stage tests in_root 'export CI=true; bash scripts/test.sh'
  what="install, build, main job and the whole test suite"
else
  stage test-build in_root 'bash scripts/build.sh -DTEESPLIT_TESTS=ON -DTEESPLIT_BENCH=OFF'
  # As scripts/test.sh: ONNX Runtime for the back.onnx check, pinned by bench/package.json
  # (npm ci when a lock file is committed); here a failed install fails the check.
  stage npm in_root 'cd bench && if [ -f package-lock.json ]; then
      npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
    else
      npm install --ignore-scripts --no-audit --no-fund --loglevel=error
    fi && node --version && ls node_modules'
  # CI=true: a skip for anything but missing hardware fails.
  show_from='^[0-9]+% tests passed' stage tests in_root "export CI=true
    ctest --test-dir build --output-on-failure -j2 --timeout 900 --output-junit /root/teesplit/build/ctest-junit.xml$(quoted "${ctest_argv[@]}")
    python3 scripts/ci-skip-report.py build/ctest-junit.xml"
  what="install, build, main job and quick tests"
fi
tests_log=$(printf '%s/%02d-tests.log' "$logs" "$n")
summary+=("$(grep -E '^[0-9]+% tests passed' "$tests_log" || echo 'tests: no summary line')")
skipped=$(grep -c '\*\*\*Skipped' "$tests_log" || true)
summary+=("skipped tests: $skipped$([ "$skipped" = 0 ] || echo ' (listed in the tests log)')")
finish PASS "$what"
