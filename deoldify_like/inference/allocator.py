"""glibc's allocator set to keep freed memory, for long CPU inference in threads.

By default glibc hands every block above its mmap threshold (at most 32 MB) back to the system when it is
freed and trims the heap's free top, so each forward pass of a U-Net at batch 4 page-faults its
activations in again: measured on this project's 2-core CPU (`benchmarks/checkpoints_timing.py`), 15 s of
the 130 s of CPU that `checkpoints` spends on the long run went to the kernel, and a forward pass took
0.096 s a picture instead of 0.086. With the thresholds raised, freed blocks are reused.

Only where glibc's `mallopt` exists (Linux); elsewhere nothing changes. The cost: up to `TRIM` bytes of
freed memory stay with the process until it exits.
"""
import ctypes

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3  # malloc.h
MMAP = 32 << 20  # glibc's largest mmap threshold (HEAP_MAX_SIZE / 2 on 64-bit)
TRIM, TOP_PAD = 1 << 30, 256 << 20

__all__ = ['keep_freed_memory']


def keep_freed_memory():
    "Raise glibc's mmap and trim thresholds for this process; True where it took effect."
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return all(mallopt(option, value) == 1 for option, value in
               ((M_MMAP_THRESHOLD, MMAP), (M_TRIM_THRESHOLD, TRIM), (M_TOP_PAD, TOP_PAD)))
