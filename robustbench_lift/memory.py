"""What a request needs in memory, checked against the machine before anything is allocated.

A size no machine holds (`--resize 100000 --crop 100000`: 150 GB per image) would otherwise end in a
`MemoryError` deep in Pillow, or in the operating system killing the process without a word.
"""

import os

from robustbench_lift.errors import UsageError


def available_bytes() -> int | None:
    """Memory the machine can give without swapping: Linux's `MemAvailable` (proc(5)), else the physical memory
    (`sysconf`), else None (unknown: nothing is refused)."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(needed: int, what: str, fix: str) -> None:
    """`UsageError` naming `what`, the bytes `needed` and those available, and the `fix`, when `needed` exceeds
    the machine's available memory."""
    available = available_bytes()
    if available is not None and needed > available:
        raise UsageError(f"{what} needs {needed / 1e9:.1f} GB of memory, more than the {available / 1e9:.1f} GB "
                         f"available; {fix}")
