#!/usr/bin/env python3
"""Generate a benchmark tree of incompressible files.

    gen_tree.py small DIR FILES TOTAL_MB   # FILES files, sizes spread, nested dirs
    gen_tree.py large DIR FILES EACH_MB    # FILES files of EACH_MB each

Small trees: sizes follow a log-normal spread (median a few KiB, a tail of
files up to a few MiB, some empty), scaled so that they add up to TOTAL_MB;
files sit 50 to a folder, 50 folders to a top-level folder. Sizes are seeded,
so two runs produce the same layout; contents are random so that neither
compression nor deduplication flatters any tool.
"""

import os
import random
import sys
from pathlib import Path

CHUNK = 8 << 20
PER_DIR = 50


def write(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        while size > 0:
            n = min(size, CHUNK)
            f.write(os.urandom(n))
            size -= n


def small_sizes(files: int, total: int) -> list[int]:
    rng = random.Random(42)
    raw = [rng.lognormvariate(8.5, 1.6) for _ in range(files)]
    scale = total / sum(raw)
    sizes = [int(s * scale) for s in raw]
    # About 1% empty files, as real trees have; the bytes go to the rest.
    for i in rng.sample(range(files), files // 100):
        sizes[i] = 0
    sizes[0] += total - sum(sizes)
    return sizes


def small(root: Path, files: int, total_mb: int) -> None:
    for k, size in enumerate(small_sizes(files, total_mb << 20)):
        folder = root / f"d{k // (PER_DIR * PER_DIR):03d}" / f"s{(k // PER_DIR) % PER_DIR:02d}"
        if k % PER_DIR == 0:
            folder.mkdir(parents=True, exist_ok=True)
        write(folder / f"f{k:06d}.bin", size)


def large(root: Path, files: int, each_mb: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for k in range(files):
        write(root / f"large{k:02d}.bin", each_mb << 20)


def main() -> None:
    if len(sys.argv) != 5 or sys.argv[1] not in ("small", "large"):
        sys.exit(__doc__)
    kind, root, files, mb = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    root.mkdir(parents=True, exist_ok=True)
    (small if kind == "small" else large)(root, files, mb)


if __name__ == "__main__":
    main()
