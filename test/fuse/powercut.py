"""Guest side of the power-cut test (powercut.test.ts), run by Debian's python3 in the VM.

  powercut.py write  DIR MANIFEST [DIR MANIFEST...]
                                    files written and fsynced in DIR; after each fsync returns,
                                    a line "name size sha256" is appended to MANIFEST (on the
                                    host, through a --share directory) and flushed, so MANIFEST
                                    lists exactly what was acknowledged. Then a child
                                    creates files, fsyncs their directory (acknowledging them)
                                    and keeps them open through the power cut, with one file
                                    written without fsync or close: it may be lost, never
                                    corrupt meta. Last, small files created, written and
                                    closed without fsync, then files only created and closed
                                    (touch), acknowledged at close: a FUSE close returns once
                                    the file is durable, its creation too.
  powercut.py verify DIR MANIFEST [DIR MANIFEST...]
                                    every file's last acknowledged state reads back in DIR.

One process for all files: under emulation each process start costs ~70 ms.
"""

import hashlib
import os
import random
import sys
import time

KIB = 1024
MIB = 1024 * KIB


def payload(name: str, size: int) -> bytes:
    return random.Random(name).randbytes(size)


def write(root: str, manifest: str) -> None:
    with open(manifest, "a") as acks:

        def acknowledged(name: str, data: bytes) -> None:
            acks.write(f"{name} {len(data)} {hashlib.sha256(data).hexdigest()}\n")
            acks.flush()
            os.fsync(acks.fileno())

        def put(name: str, data: bytes) -> None:
            fd = os.open(os.path.join(root, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            acknowledged(name, data)

        os.mkdir(os.path.join(root, "dir"))
        for i in range(6):  # small files: one block each, a new inode each
            put(f"dir/small-{i}", payload(f"small-{i}", (i + 1) * 13 * KIB))
        put("big", payload("big", 4 * MIB + 777))  # two blocks (4 MiB blocks), the last short
        # One file grown by three fsynced appends (three slices) and fsynced after each.
        grown = b""
        fd = os.open(os.path.join(root, "appended"), os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            for step in range(3):
                piece = payload(f"append-{step}", 100 * KIB + step)
                os.write(fd, piece)
                os.fsync(fd)
                grown += piece
                acknowledged("appended", grown)
        finally:
            os.close(fd)
        # First, as the last file closed would commit slices that cover earlier creates: a
        # child creates files, fsyncs their directory and keeps them open through the cut, with
        # the unacknowledged file (written, never fsynced or closed: what the cut may take).
        kept_open_after_fsyncdir(root, acknowledged)
        # Created, written and closed, no fsync: the close makes the create and data durable.
        os.mkdir(os.path.join(root, "closed"))
        for i in range(CLOSED_FILES):
            name = f"closed/{i}"
            data = payload(name, 16 * KIB)
            with open(os.path.join(root, name), "wb") as f:
                f.write(data)
            acknowledged(name, data)
        # Last, created and closed with nothing written (touch): the close syncs the create
        # alone, and nothing after it would.
        for i in range(TOUCHED_FILES):
            name = f"closed/touched-{i}"
            os.close(os.open(os.path.join(root, name), os.O_WRONLY | os.O_CREAT, 0o644))
            acknowledged(name, b"")
    print(f"write {root}: OK", flush=True)


CLOSED_FILES = 40
TOUCHED_FILES = 5


def kept_open_after_fsyncdir(root: str, acknowledged) -> None:
    """Files created and never closed before the cut: only the directory's fsync acknowledges
    them. A child holds them open (the parent's exit would close them) until the power cut."""
    os.mkdir(os.path.join(root, "open"))
    ready_r, ready_w = os.pipe()
    if os.fork() == 0:
        os.close(ready_r)
        fds = [os.open(os.path.join(root, f"open/{i}"), os.O_WRONLY | os.O_CREAT, 0o644) for i in range(5)]
        dir_fd = os.open(os.path.join(root, "open"), os.O_RDONLY | os.O_DIRECTORY)
        os.fsync(dir_fd)
        for i in range(len(fds)):
            acknowledged(f"open/{i}", b"")
        unacknowledged = open(os.path.join(root, "unacknowledged"), "wb")
        unacknowledged.write(payload("unacknowledged", 512 * KIB))
        unacknowledged.flush()
        os.write(ready_w, b"x")
        time.sleep(3600)  # the power cut ends it, fds still open
        os._exit(0)
    os.close(ready_w)
    if os.read(ready_r, 1) != b"x":
        sys.exit(f"write {root}: the child keeping files open failed")


def verify(root: str, manifest: str) -> None:
    expected: dict[str, tuple[int, str]] = {}
    with open(manifest) as acks:
        for line in acks:
            name, size, digest = line.split()
            expected[name] = (int(size), digest)
    if not expected:
        sys.exit(f"verify {root}: the manifest is empty")
    bad = []
    for name, (size, digest) in sorted(expected.items()):
        path = os.path.join(root, name)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as error:
            bad.append(f"{name}: {error}")
            continue
        if len(data) != size or hashlib.sha256(data).hexdigest() != digest:
            bad.append(f"{name}: {len(data)} bytes read back, sha256 differs from the {size} acknowledged")
    if bad:
        sys.exit(f"verify {root}: {len(bad)} of {len(expected)} files lost or wrong:\n  " + "\n  ".join(bad))
    print(f"verify {root}: OK, {len(expected)} files", flush=True)


if __name__ == "__main__":
    mode, pairs = sys.argv[1], sys.argv[2:]
    if mode not in ("write", "verify") or not pairs or len(pairs) % 2 != 0:
        sys.exit(__doc__)
    failures = []
    for root, manifest in zip(pairs[::2], pairs[1::2]):
        try:
            {"write": write, "verify": verify}[mode](root, manifest)
        except SystemExit as failed:  # check every volume, report all
            print(failed.code, file=sys.stderr, flush=True)
            failures.append(root)
    sys.exit(1 if failures else 0)
