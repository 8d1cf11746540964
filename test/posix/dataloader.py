"""An image-folder-like dataset read with PyTorch's DataLoader, for FUSE tests and benchmarks.

    dataloader.py generate ROOT MANIFEST [--classes 100] [--per-class 100] [--seed 1]
        Writes CLASSES directories x PER_CLASS files of 1-16 KiB of seeded random bytes under
        ROOT (from this one process), and MANIFEST: JSON [[relative path, size, sha256], ...]
        computed from the bytes in memory, not read back.

    dataloader.py load ROOT MANIFEST [--epochs 2] [--workers 2] [--batch 64] [--prefetch]
        Runs a torch.utils.data.DataLoader (shuffle=True, num_workers=WORKERS) over a Dataset
        that reads each file whole; per epoch, prints one JSON line:
        {"epoch", "seconds", "files", "distinct", "bytes", "mismatched", "missing", "order",
        "jfs"}. "order" is a digest of the index order (two shuffled epochs should differ);
        "jfs" the mount's prefetch progress and read-miss counters after the epoch (null when
        ROOT is not on jfs). --prefetch hands each epoch's order to the mount
        (python/jfs_prefetch.py's PrefetchSampler around the shuffling sampler).
        With FUSE_IO_PHASE_URL set, GETs URL/epoch-N before each epoch (bench/fuse_profile.ts).

Exits 1 with one line when torch cannot be imported: the test must fail, not skip.
Only /usr/bin/python3 (Debian's python3-torch) is expected to have torch.
"""

import argparse
import hashlib
import json
import os
import random
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../python"))
import jfs_prefetch  # noqa: E402

KIB = 1024


def generate(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    manifest = []
    for c in range(args.classes):
        class_dir = f"class_{c:03d}"
        os.mkdir(os.path.join(args.root, class_dir))
        for i in range(args.per_class):
            data = rng.randbytes(rng.randint(1 * KIB, 16 * KIB))
            rel = f"{class_dir}/img_{i:04d}.bin"
            with open(os.path.join(args.root, rel), "wb") as f:
                f.write(data)
            manifest.append([rel, len(data), hashlib.sha256(data).hexdigest()])
    with open(args.manifest, "w") as f:
        json.dump(manifest, f)
    print(json.dumps({"files": len(manifest)}), flush=True)


class FileDataset:
    """A map-style dataset: item i is (i, size, sha256) of the file read whole through ROOT."""

    def __init__(self, root: str, paths: list) -> None:
        self.root = root
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        with open(os.path.join(self.root, self.paths[i]), "rb") as f:
            data = f.read()
        return i, len(data), hashlib.sha256(data).hexdigest()


def load(args: argparse.Namespace) -> None:
    try:
        import torch
        from torch.utils.data import DataLoader, RandomSampler
    except ImportError as error:
        print(f"torch is missing ({error}): apt-get install python3-torch", file=sys.stderr)
        sys.exit(1)
    with open(args.manifest) as f:
        manifest = json.load(f)
    paths = [entry[0] for entry in manifest]
    dataset = FileDataset(args.root, paths)
    torch.manual_seed(args.seed)
    sampler = RandomSampler(dataset)
    if args.prefetch:
        sampler = jfs_prefetch.PrefetchSampler(sampler, paths, root=args.root)
    loader = DataLoader(
        dataset,
        batch_size=args.batch,
        sampler=sampler,
        num_workers=args.workers,
        persistent_workers=False,
    )
    phase_url = os.environ.get("FUSE_IO_PHASE_URL")
    for epoch in range(args.epochs):
        if phase_url:
            urllib.request.urlopen(f"{phase_url}/epoch-{epoch + 1}").read()
        start = time.perf_counter()
        seen = [0] * len(paths)
        order = hashlib.sha256()
        files = total_bytes = mismatched = 0
        for indexes, sizes, digests in loader:
            for i, size, digest in zip(indexes.tolist(), sizes.tolist(), digests):
                files += 1
                seen[i] += 1
                total_bytes += size
                order.update(i.to_bytes(4, "little"))
                if size != manifest[i][1] or digest != manifest[i][2]:
                    mismatched += 1
                    if mismatched <= 5:
                        print(f"mismatch: {paths[i]}", file=sys.stderr)
        seconds = time.perf_counter() - start
        report = {
            "epoch": epoch,
            "seconds": round(seconds, 3),
            "files": files,
            "distinct": sum(1 for n in seen if n > 0),
            "bytes": total_bytes,
            "mismatched": mismatched,
            "missing": sum(1 for n in seen if n == 0),
            "order": order.hexdigest()[:16],
            "jfs": jfs_prefetch.progress(args.root),
        }
        print(json.dumps(report), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate")
    gen.add_argument("root")
    gen.add_argument("manifest")
    gen.add_argument("--classes", type=int, default=100)
    gen.add_argument("--per-class", type=int, default=100)
    gen.add_argument("--seed", type=int, default=1)
    ld = sub.add_parser("load")
    ld.add_argument("root")
    ld.add_argument("manifest")
    ld.add_argument("--epochs", type=int, default=2)
    ld.add_argument("--workers", type=int, default=2)
    ld.add_argument("--batch", type=int, default=64)
    ld.add_argument("--seed", type=int, default=1)
    ld.add_argument("--prefetch", action="store_true")
    args = parser.parse_args()
    if args.command == "generate":
        generate(args)
    else:
        load(args)


if __name__ == "__main__":
    main()
