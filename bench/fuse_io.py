"""File system workloads for bench/fuse.ts, one per invocation; each prints one JSON line.

    fuse_io.py seqwrite FILE SIZE_MIB      write SIZE_MIB of random bytes in 1 MiB writes, close
    fuse_io.py seqread FILE                read the file whole in 1 MiB reads
    fuse_io.py randread FILE COUNT         COUNT preads of 4 KiB at random 4 KiB-aligned offsets
    fuse_io.py smallfiles DIR COUNT KIB    create, stat, read, remove COUNT files of KIB KiB
                                           (100 per directory); the kernel's caches are dropped
                                           before the stat and the read phase when allowed;
                                           with FUSE_IO_PHASE_URL set, GETs URL/NAME at the start
                                           of each phase (bench/fuse_profile.ts counts by phase)
    fuse_io.py parcreate DIR COUNT KIB WRITERS
                                           COUNT files of KIB KiB created by WRITERS processes at
                                           once (each its own directory), timed until the last
                                           close returned; the files are left in place

Times are wall clock seconds of the phase, including close() (where write-back caches return
before the data is in the object store: rclone).
"""

import json
import os
import random
import sys
import time
import urllib.request

MIB = 1024 * 1024
PAGE = 4096
PER_DIR = 100


def drop_caches() -> bool:
    """Drops the page, dentry and inode caches (root only); False where not allowed."""
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def phase(name: str) -> None:
    url = os.environ.get("FUSE_IO_PHASE_URL")
    if url:
        urllib.request.urlopen(f"{url}/{name}").read()


def seqwrite(path: str, size_mib: int) -> dict:
    pool = os.urandom(16 * MIB)
    start = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for i in range(size_mib):
            # A different megabyte each time: no two written blocks are equal.
            at = (i * 4099) % (15 * MIB)
            os.write(fd, pool[at : at + MIB])
    finally:
        os.close(fd)
    return {"seconds": time.perf_counter() - start, "bytes": size_mib * MIB}


def seqread(path: str) -> dict:
    start = time.perf_counter()
    total = 0
    buf = bytearray(MIB)
    fd = os.open(path, os.O_RDONLY)
    try:
        while True:
            n = os.readv(fd, [buf])
            if n == 0:
                break
            total += n
    finally:
        os.close(fd)
    return {"seconds": time.perf_counter() - start, "bytes": total}


def randread(path: str, count: int) -> dict:
    rng = random.Random(7)
    fd = os.open(path, os.O_RDONLY)
    try:
        pages = os.fstat(fd).st_size // PAGE
        offsets = [rng.randrange(pages) * PAGE for _ in range(count)]
        start = time.perf_counter()
        for off in offsets:
            if len(os.pread(fd, PAGE, off)) != PAGE:
                raise SystemExit(f"short read at {off}")
        seconds = time.perf_counter() - start
    finally:
        os.close(fd)
    return {"seconds": seconds, "ops": count}


def smallfiles(root: str, count: int, kib: int) -> dict:
    data = os.urandom(kib * 1024)
    dirs = [os.path.join(root, f"d{d:03d}") for d in range((count + PER_DIR - 1) // PER_DIR)]
    paths = [os.path.join(dirs[i // PER_DIR], f"f{i:05d}") for i in range(count)]
    phases = {}

    phase("create")
    start = time.perf_counter()
    for d in dirs:
        os.mkdir(d)
    for p in paths:
        with open(p, "wb") as f:
            f.write(data)
    phases["create"] = time.perf_counter() - start

    dropped = drop_caches()
    phase("stat")
    start = time.perf_counter()
    for p in paths:
        if os.stat(p).st_size != len(data):
            raise SystemExit(f"{p}: wrong size")
    phases["stat"] = time.perf_counter() - start

    drop_caches()
    phase("read")
    start = time.perf_counter()
    for p in paths:
        with open(p, "rb") as f:
            if f.read() != data:
                raise SystemExit(f"{p}: wrong content")
    phases["read"] = time.perf_counter() - start

    phase("remove")
    start = time.perf_counter()
    for p in paths:
        os.unlink(p)
    for d in dirs:
        os.rmdir(d)
    phases["remove"] = time.perf_counter() - start
    phase("done")
    return {"seconds": phases, "files": count, "droppedCaches": dropped}


def parcreate(root: str, count: int, kib: int, writers: int) -> dict:
    data = os.urandom(kib * 1024)
    per = (count + writers - 1) // writers
    dirs = [os.path.join(root, f"w{w:02d}") for w in range(writers)]
    for d in dirs:
        os.mkdir(d)
    start = time.perf_counter()
    pids = []
    for w, d in enumerate(dirs):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                for i in range(min(per, count - w * per)):
                    with open(os.path.join(d, f"f{i:05d}"), "wb") as f:
                        f.write(data)
                code = 0
            finally:
                os._exit(code)
        pids.append(pid)
    for pid in pids:
        _, status = os.waitpid(pid, 0)
        if status != 0:
            raise SystemExit(f"writer {pid} failed: {status}")
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "files": count, "writers": writers}


def main() -> None:
    command, *args = sys.argv[1:]
    if command == "seqwrite":
        result = seqwrite(args[0], int(args[1]))
    elif command == "seqread":
        result = seqread(args[0])
    elif command == "randread":
        result = randread(args[0], int(args[1]))
    elif command == "smallfiles":
        result = smallfiles(args[0], int(args[1]), int(args[2]))
    elif command == "parcreate":
        result = parcreate(args[0], int(args[1]), int(args[2]), int(args[3]))
    else:
        raise SystemExit(f"unknown workload {command}")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
