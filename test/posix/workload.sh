#!/usr/bin/env bash
# A POSIX workload for any mounted jfs (FUSE here; the kernel NFS client later):
#
#   workload.sh DIR write    build the tree under DIR, checking everything as it goes
#   workload.sh DIR verify   check the tree again (after an unmount and a new mount)
#
# Only bash, coreutils, attr (setfattr/getfattr) and python3. File contents come from seeded
# PRNG streams, so `verify` recomputes every expected sha256 without a manifest. Loops over
# many files run inside one python3 process, not thousands of commands.
# WORKLOAD_BIG_MIB (default 256; 0 skips it) sizes the one big file. WORKLOAD_XATTRS=0 leaves
# out extended attributes (NFSv3 has none).
set -euo pipefail

DIR=${1:?usage: workload.sh DIR write|verify}
PHASE=${2:?usage: workload.sh DIR write|verify}
BIG_MIB=${WORKLOAD_BIG_MIB:-256}
XATTRS=${WORKLOAD_XATTRS:-1}
W="$DIR/workload"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

fail() {
  echo "workload $PHASE: FAILED: $*" >&2
  exit 1
}

expect_eq() { # what actual expected
  [ "$2" = "$3" ] || fail "$1: got '$2', expected '$3'"
}

# ---- file data: generate (write phase) or check (both phases) with one python3 process ----
data() { # mode: write | check
  "$PY" - "$W" "$1" "$BIG_MIB" <<'PYTHON'
import hashlib, os, random, sys

root, mode, big_mib = sys.argv[1], sys.argv[2], int(sys.argv[3])
MiB = 1 << 20
CHUNK = MiB

def stream(seed, size):
    """Deterministic bytes of a seed, produced one MiB at a time."""
    rng = random.Random(seed)
    left = size
    while left > 0:
        n = min(CHUNK, left)
        yield rng.randbytes(n)
        left -= n

def content_hash(pieces):
    h = hashlib.sha256()
    for p in pieces:
        h.update(p)
    return h.hexdigest()

SIZES = [0, 1, 4095, 4096, 4097, 65536, 131073, MiB + 1, 4 * MiB, 4 * MiB + 5, 64 * MiB + 3]
files = {f"files/f{size}": (lambda size=size: stream(size, size)) for size in SIZES}
if big_mib > 0:
    files["files/big"] = lambda: stream(7, big_mib * MiB)

# Final contents of the mutated files, as generators of their bytes.
def appended():
    yield from stream(11, 100_000)
    yield from stream(12, 12_345)

def overwritten():
    base = b"".join(stream(21, 8 * MiB + 5))
    patch = b"".join(stream(22, 2 * MiB + 3))
    at = 3 * MiB + 7
    yield base[:at] + patch + base[at + len(patch):]

def truncated():
    yield b"".join(stream(31, 5 * MiB))[:1_234_567] + bytes(3_000_000 - 1_234_567)

def sparse():
    yield bytes(10 * MiB) + b"x"

mutated = {
    "mut/appended": appended,
    "mut/overwritten": overwritten,
    "mut/truncated": truncated,
    "mut/sparse": sparse,
}

def write_file(path, pieces):
    with open(path, "wb") as f:
        for p in pieces:
            f.write(p)

def build_mutated():
    os.makedirs(f"{root}/mut", exist_ok=True)
    write_file(f"{root}/mut/appended", stream(11, 100_000))
    with open(f"{root}/mut/appended", "ab") as f:
        for p in stream(12, 12_345):
            f.write(p)
    write_file(f"{root}/mut/overwritten", stream(21, 8 * MiB + 5))
    with open(f"{root}/mut/overwritten", "r+b") as f:
        f.seek(3 * MiB + 7)
        for p in stream(22, 2 * MiB + 3):
            f.write(p)
    write_file(f"{root}/mut/truncated", stream(31, 5 * MiB))
    os.truncate(f"{root}/mut/truncated", 1_234_567)
    os.truncate(f"{root}/mut/truncated", 3_000_000)
    with open(f"{root}/mut/sparse", "wb") as f:
        f.seek(10 * MiB)
        f.write(b"x")
        f.flush()
        os.fsync(f.fileno())

def many(dirname, count):
    os.makedirs(f"{root}/{dirname}", exist_ok=True)
    for i in range(count):
        with open(f"{root}/{dirname}/entry-{i:05d}", "w") as f:
            if i % 10 == 0:
                f.write(f"{i}\n")

if mode == "write":
    os.makedirs(f"{root}/files", exist_ok=True)
    for name, gen in files.items():
        write_file(f"{root}/{name}", gen())
    build_mutated()
    many("many5000", 5000)
    many("rm1000", 1000)

expected = {**files, **mutated}
# sha256sum reads the files (coreutils); python only computes what they must hash to.
with open(f"{root}/../.workload-sums", "w") as out:
    for name, gen in expected.items():
        out.write(f"{content_hash(gen())}  {root}/{name}\n")
for i in range(0, 5000, 10):
    with open(f"{root}/many5000/entry-{i:05d}") as f:
        if f.read() != f"{i}\n":
            sys.exit(f"many5000/entry-{i:05d}: wrong content")
PYTHON
  sha256sum --quiet -c "$DIR/.workload-sums" || fail "sha256 mismatch"
  rm -f "$DIR/.workload-sums"
}

# ---- namespace and metadata (coreutils / attr) ----
namespace_write() {
  mkdir -p "$W/tree/a/b/c/d/e" "$W/tree/x/y" "$W/ren/dir1/sub" "$W/ren/dir2"
  echo "leaf" >"$W/tree/a/b/c/d/e/leaf"
  cp "$W/files/f1048577" "$W/files/copy" # copy_file_range where cp uses it
  echo "old" >"$W/ren/target"
  echo "new" >"$W/ren/source"
  mv "$W/ren/source" "$W/ren/target"   # rename over a file
  echo "in dir1" >"$W/ren/dir1/sub/file"
  mv -T "$W/ren/dir1" "$W/ren/dir2"    # rename over an empty directory
  mv "$W/ren/dir2" "$W/tree/x/moved"   # across parents
  echo "perm" >"$W/perm"
  chmod 0640 "$W/perm"
  chown 1234:5678 "$W/perm"
  echo "linked" >"$W/link-src"
  ln "$W/link-src" "$W/link-hard"
  ln "$W/link-src" "$W/tree/link-hard2"
  rm "$W/tree/link-hard2"
  ln -s link-src "$W/link-sym"
  ln -s /nonexistent/target "$W/link-dangling"
  if [ "$XATTRS" = 1 ]; then
    setfattr -n user.small -v hello "$W/perm"
    setfattr -n user.big -v "$(head -c 4000 /dev/zero | tr '\0' a)" "$W/perm"
    setfattr -n user.gone -v soon "$W/perm"
    setfattr -x user.gone "$W/perm"
    setfattr -n user.dir -v ondir "$W/tree"
  fi
  rm -rf "$W/rm1000"
}

namespace_check() {
  [ -f "$W/tree/a/b/c/d/e/leaf" ] || fail "deep tree missing"
  expect_eq "leaf" "$(cat "$W/tree/a/b/c/d/e/leaf")" "leaf"
  cmp -s "$W/files/f1048577" "$W/files/copy" || fail "copy differs"
  expect_eq "renamed over file" "$(cat "$W/ren/target")" "new"
  [ ! -e "$W/ren/source" ] || fail "rename source still exists"
  [ ! -e "$W/ren/dir1" ] && [ ! -e "$W/ren/dir2" ] || fail "renamed dirs still exist"
  expect_eq "moved dir" "$(cat "$W/tree/x/moved/sub/file")" "in dir1"
  expect_eq "perm stat" "$(stat -c '%a %u %g %s' "$W/perm")" "640 1234 5678 5"
  expect_eq "nlink" "$(stat -c %h "$W/link-src")" "2"
  expect_eq "nlink" "$(stat -c %h "$W/link-hard")" "2"
  expect_eq "same inode" "$(stat -c %i "$W/link-hard")" "$(stat -c %i "$W/link-src")"
  expect_eq "hard link data" "$(cat "$W/link-hard")" "linked"
  expect_eq "symlink" "$(readlink "$W/link-sym")" "link-src"
  expect_eq "through symlink" "$(cat "$W/link-sym")" "linked"
  expect_eq "dangling" "$(readlink "$W/link-dangling")" "/nonexistent/target"
  [ ! -e "$W/link-dangling" ] || fail "dangling symlink resolves"
  if [ "$XATTRS" = 1 ]; then
    expect_eq "xattr" "$(getfattr --absolute-names --only-values -n user.small "$W/perm")" "hello"
    expect_eq "xattr big" "$(getfattr --absolute-names --only-values -n user.big "$W/perm" | wc -c)" "4000"
    expect_eq "xattr names" "$(getfattr --absolute-names -d "$W/perm" | grep -c '^user\.')" "2"
    getfattr --absolute-names -n user.gone "$W/perm" >/dev/null 2>&1 && fail "removed xattr still there"
    expect_eq "xattr on dir" "$(getfattr --absolute-names --only-values -n user.dir "$W/tree")" "ondir"
  fi
  [ ! -e "$W/rm1000" ] || fail "rm -rf left $W/rm1000"
  expect_eq "ls -l count" "$(ls -l "$W/many5000" | tail -n +2 | wc -l)" "5000"
  expect_eq "ls -f count" "$(ls -f "$W/many5000" | wc -l)" "5002"
  expect_eq "sizes" "$(stat -c %s "$W/mut/truncated" "$W/mut/sparse" | tr '\n' ' ')" "3000000 10485761 "
}

case "$PHASE" in
write)
  rm -rf "$W"
  mkdir -p "$W"
  data write
  namespace_write
  namespace_check
  sync
  ;;
verify)
  [ -d "$W" ] || fail "$W does not exist"
  data check
  namespace_check
  ;;
*)
  fail "unknown phase $PHASE (write or verify)"
  ;;
esac
echo "workload $PHASE: OK"
