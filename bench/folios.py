"""The folio sizes of a file's page cache (Linux, as root), to compare file systems:

    python3 bench/folios.py FILE...

Maps FILE copy-on-write and reads one byte of every page, which maps the cached folios without
copying them (and reads the file first where it is not cached), then takes each page's frame
from /proc/self/pagemap and its flags from /proc/kpageflags (bit 15: head of a compound page,
bit 16: tail). Prints per file {folio size in KiB: count}.
"""

import collections
import ctypes
import mmap
import os
import struct
import sys

PAGE = 4096
KPF_COMPOUND_HEAD = 1 << 15
KPF_COMPOUND_TAIL = 1 << 16
PFN_MASK = (1 << 55) - 1
PRESENT = 1 << 63


def folio_sizes(path: str) -> dict:
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        pages = (size + PAGE - 1) // PAGE
        m = mmap.mmap(fd, size, access=mmap.ACCESS_COPY)
    finally:
        os.close(fd)
    touched = 0
    for i in range(pages):
        touched += m[i * PAGE]
    base = ctypes.addressof(ctypes.c_char.from_buffer(m))
    with open("/proc/self/pagemap", "rb") as pagemap:
        pagemap.seek(base // PAGE * 8)
        entries = struct.unpack(f"{pages}Q", pagemap.read(8 * pages))
    sizes: collections.Counter = collections.Counter()
    run = 0
    with open("/proc/kpageflags", "rb") as kpageflags:
        for entry in entries:
            if not entry & PRESENT:
                sizes["absent"] += 1
                continue
            kpageflags.seek((entry & PFN_MASK) * 8)
            (flags,) = struct.unpack("Q", kpageflags.read(8))
            if flags & KPF_COMPOUND_TAIL:
                run += 1
                continue
            if run:
                sizes[run * PAGE // 1024] += 1
            run = 1 if flags & KPF_COMPOUND_HEAD else 0
            if not run:
                sizes[PAGE // 1024] += 1
    if run:
        sizes[run * PAGE // 1024] += 1
    return dict(sorted(sizes.items(), key=lambda kv: str(kv[0])))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for p in sys.argv[1:]:
        print(p, folio_sizes(p))
