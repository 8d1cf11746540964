"""Epoch-aware prefetch for jfs mounts: hand the mount the order a loader will read files in.

A PyTorch DataLoader worker reads one file after another and waits for each; on a cold cache
every file is a round trip to the object store. Wrapping the loader's sampler hands the whole
epoch's order to the mount when the epoch starts, and jfs loads the files' blocks 32 at a time,
just ahead of the workers (src/vfs/prefetch.ts):

    from torch.utils.data import DataLoader, RandomSampler
    from jfs_prefetch import PrefetchSampler

    sampler = PrefetchSampler(RandomSampler(dataset), paths=dataset_paths)
    loader = DataLoader(dataset, sampler=sampler, num_workers=8, batch_size=64)

`paths[i]` is the file that dataset item i reads. On anything but a jfs mount, or where the
order is refused (setting it needs write permission on the dataset's directory, and a mount
that is not read-only), the sampler just passes its indices through.

Pure Python, no dependency (torch is only what it is used with): `pip install ./python` from
the jfs repository, or copy this file.
"""

import json
import os

__all__ = ["PrefetchSampler", "hand_over", "jfs_mount_of", "progress"]

XATTR = "user.jfs.prefetch"
APPEND_XATTR = "user.jfs.prefetch.append"
# Linux caps an xattr value at 64 KiB; the order goes in pieces below that.
VALUE_BYTES_MAX = 60 * 1024
JFS_FSTYPE = "fuse.jfs"


def _unescape(field: str) -> str:
    """/proc/self/mountinfo escapes space, tab, newline and backslash as octal."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 3 < len(field) and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def jfs_mount_of(path: str):
    """The jfs mount point `path` lies on, or None (another file system, or no mountinfo)."""
    real = os.path.realpath(path)
    best, best_type = None, None
    try:
        with open("/proc/self/mountinfo") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split(" ")
        if "-" not in fields:
            continue
        point = _unescape(fields[4])
        fstype = fields[fields.index("-") + 1]
        above = point == "/" or real == point or real.startswith(point.rstrip("/") + "/")
        if above and (best is None or len(point) >= len(best)):
            best, best_type = point, fstype
    return best if best_type == JFS_FSTYPE else None


def hand_over(directory: str, relative_paths) -> bool:
    """Hands an order (paths relative to `directory`, str or bytes) to the mount; False if not
    on jfs or refused."""
    if jfs_mount_of(directory) is None:
        return False
    pieces, piece, size = [], [], 0
    for p in relative_paths:
        line = (p if isinstance(p, bytes) else os.fsencode(p)) + b"\n"
        if size + len(line) > VALUE_BYTES_MAX and piece:
            pieces.append(b"".join(piece))
            piece, size = [], 0
        piece.append(line)
        size += len(line)
    pieces.append(b"".join(piece))
    try:
        os.setxattr(directory, XATTR, pieces[0])
        for value in pieces[1:]:
            os.setxattr(directory, APPEND_XATTR, value)
    except OSError:
        return False
    return True


def progress(path: str):
    """The mount's prefetch progress and read-miss counters (a dict), or None if not on jfs."""
    if jfs_mount_of(path) is None:
        return None
    try:
        return json.loads(os.getxattr(path, XATTR))
    except OSError:
        return None


class PrefetchSampler:
    """Wraps a sampler of dataset indices; each epoch's order is handed to the jfs mount
    before the first index is given out. `paths[i]` is the file of item i (absolute, or
    relative to `root`); `root` defaults to the directory all paths share."""

    def __init__(self, sampler, paths, root=None) -> None:
        self.sampler = sampler
        if root is None:
            absolute = [os.path.abspath(p) for p in paths]
            root = os.path.commonpath(absolute) if absolute else "."
            if not os.path.isdir(root):
                root = os.path.dirname(root)
        self.root = root
        self.relative = [os.fsencode(os.path.relpath(os.path.join(root, p), root)) for p in paths]
        self.enabled = jfs_mount_of(root) is not None
        self.handed_over = 0

    def __len__(self) -> int:
        return len(self.sampler)

    def set_epoch(self, epoch: int) -> None:
        """For a DistributedSampler inside."""
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    def __iter__(self):
        order = list(iter(self.sampler))
        if self.enabled and hand_over(self.root, (self.relative[int(i)] for i in order)):
            self.handed_over += 1
        return iter(order)
