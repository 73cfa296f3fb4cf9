"""glibc's allocator kept from handing freed blocks back (deoldify_like.inference.allocator)."""
import ctypes
import sys

import pytest

from deoldify_like.inference.allocator import keep_freed_memory


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='glibc only')
def test_keep_freed_memory_takes_effect_and_freed_blocks_are_reused():
    assert keep_freed_memory() is True
    libc = ctypes.CDLL(None)
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    size = 16 << 20  # above glibc's default mmap threshold, below the raised one
    first = libc.malloc(size)
    libc.free(first)
    second = libc.malloc(size)
    libc.free(second)
    assert first == second  # reused from the heap, not a fresh mapping each time
