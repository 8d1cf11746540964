#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine with Node and npm:
# installs what the tests need (Bun, redis-server, postgresql, libnfs-utils, fuse3, attr, qemu,
# awscli, python3-boto3, rclone),
# then type-checks, lints and runs every test. The last line is
# `N passed, N failed, N skipped`, counted from the real results; the exit status is real.
set -uo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*"; }
SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO="sudo"; fi

need_apt=()
command -v redis-server >/dev/null || need_apt+=(redis-server)
command -v nfs-ls >/dev/null || need_apt+=(libnfs-utils)
command -v fusermount3 >/dev/null || need_apt+=(fuse3)
command -v setfattr >/dev/null || need_apt+=(attr)
command -v tmux >/dev/null || need_apt+=(tmux)
# script(1) gives test/cli/progress.test.ts a pseudo-terminal.
command -v script >/dev/null || need_apt+=(bsdutils)
# test/fuse/locks.test.ts shares a database between two mounts with Debian's sqlite3.
[ -x /usr/bin/sqlite3 ] || need_apt+=(sqlite3)
# PostgreSQL: Debian's server binaries, run by the tests as their own cluster in a temp dir.
command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
# test/fuse/deferredcreate.test.ts and test/nfs/stablecreate.test.ts count a process's fsyncs.
command -v strace >/dev/null || need_apt+=(strace)
command -v qemu-system-x86_64 >/dev/null || need_apt+=(qemu-system-x86)
# The power-cut test builds its VM's disk image with mkfs.ext4 -d (in /usr/sbin).
[ -x /usr/sbin/mkfs.ext4 ] || [ -x /sbin/mkfs.ext4 ] || need_apt+=(e2fsprogs)
# The DataLoader test uses Debian's PyTorch with Debian's python (/usr/bin/python3).
/usr/bin/python3 -c "import torch" >/dev/null 2>&1 || need_apt+=(python3-torch)
# The S3 gateway's tests use Debian's aws CLI, boto3 and rclone as clients.
[ -x /usr/bin/aws ] || need_apt+=(awscli)
[ -x /usr/bin/rclone ] || need_apt+=(rclone)
/usr/bin/python3 -c "import boto3" >/dev/null 2>&1 || need_apt+=(python3-boto3)
need_rpcinfo=false
command -v rpcinfo >/dev/null || [ -x /usr/sbin/rpcinfo ] || { need_rpcinfo=true; need_apt+=(libtirpc3); }
if [ ${#need_apt[@]} -gt 0 ]; then
  log "installing ${need_apt[*]}"
  # Packages must not start services (postgresql would start a system cluster on port 5432; the
  # tests start their own servers): a policy-rc.d that says "no" while apt runs, unless the
  # machine already has one (Docker images do).
  policy=/usr/sbin/policy-rc.d
  own_policy=false
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null && $SUDO chmod +x "$policy" && own_policy=true
  fi
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
  if $own_policy; then $SUDO rm -f "$policy"; fi
fi
# rpcinfo (a real portmap client) comes from Debian's rpcbind package, whose install would also
# start the rpcbind daemon on port 111 of every interface: unpack the package instead.
tools="${TMPDIR:-/tmp}/jfs-test-tools"
if $need_rpcinfo; then
  mkdir -p "$tools" && (cd "$tools" && apt-get download rpcbind >/dev/null 2>&1 && dpkg -x rpcbind_*.deb root) \
    && export PATH="$PATH:$tools/root/usr/sbin:$tools/root/usr/bin"
fi
# test/nfs/lockkernel.test.ts runs rpcbind and rpc.statd in the nfs-vm guest (which sees this
# host's files): Debian's rpcbind, nfs-common and libwrap0 (both link it) unpacked, not
# installed, so that no daemon starts here.
for pkg in rpcbind nfs-common libwrap0; do
  [ -n "$(ls "$tools"/${pkg}_*.deb 2>/dev/null)" ] && continue
  mkdir -p "$tools" && (cd "$tools" && apt-get download "$pkg" >/dev/null 2>&1 && dpkg -x "${pkg}"_*.deb root) \
    || echo "cannot unpack $pkg: the kernel NLM test will fail in CI"
done
export JFS_NLM_TOOLS="$tools/root"

if ! command -v bun >/dev/null; then
  # The Bun that release/package.json pins as the runtime of the release builds.
  bun_pkg="bun@$(sed -n 's/.*"@oven\/bun-linux-x64": "\([^"]*\)".*/\1/p' release/package.json)"
  log "installing $bun_pkg (npm package)"
  npm install -g "$bun_pkg" >/dev/null 2>&1 || $SUDO npm install -g "$bun_pkg"
fi
log "bun $(bun --version)"
bun install --frozen-lockfile >/dev/null 2>&1 || bun install

# Every server the tests start is on loopback: a proxy set for the machine must not carry
# their traffic (fetch, and with it the S3 store, honours HTTP(S)_PROXY).
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}" no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}"

passed=0
failed=0
skipped=0

log "type-check (tsc --noEmit)"
if bunx tsc --noEmit -p .; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
log "lint (biome)"
if bunx biome check . ; then passed=$((passed + 1)); else failed=$((failed + 1)); fi

log "bun test"
out=$(mktemp)
bun test --timeout 300000 "$@" 2>&1 | tee "$out"
status=${PIPESTATUS[0]}
count() { grep -Eo "^ *[0-9]+ $1\$" "$out" | tail -1 | tr -dc 0-9; }
p=$(count pass); f=$(count fail); s=$(count skip); t=$(count todo)
passed=$((passed + ${p:-0}))
failed=$((failed + ${f:-0}))
skipped=$((skipped + ${s:-0} + ${t:-0}))
# An error outside any test (a crash between tests) fails the run without failing a test.
if [ "$status" != 0 ] && [ "${f:-0}" = 0 ]; then failed=$((failed + 1)); fi
rm -f "$out"

echo
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
[ "$failed" = 0 ]
