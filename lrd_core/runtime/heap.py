"""The server's C heap (glibc malloc): keep large blocks out of it, and hand freed pages back to the OS.

Many visitors share one ~1 GB host. glibc serves blocks up to a *dynamic* threshold from its heap and raises
that threshold each time a large mmapped block is freed, so repeated probes that allocate and free
20-MB tensors end up inside the heap, fragmented, and the process keeps them. Measured on the heaviest deep
link (``/Vanishing_gradients?H=256&T=1000&...``, a fresh process under AppTest): peak +138 MB by default,
+76 MB with the threshold fixed at 4 MiB; fixing it at 64 KiB gave the same memory but made small-model
training steps up to 2x slower (every activation an mmap), so 4 MiB it is. Fixing the mmap threshold also
freezes the *trim* threshold at its 128 KiB default, so every free at the top of the heap handed pages back
and the next step faulted them in again: an S6 training step (tensors of 2.2 MB) took 41 ms with 3,071 page
faults per step, against 27-31 ms and 0-12 faults with glibc's defaults or with the trim threshold raised
to 64 MiB as here. Finished runs still give their memory back: :func:`trim_heap` ignores the threshold. All
calls are no-ops where the C library is not glibc (macOS, Windows, musl).
"""

from __future__ import annotations

import ctypes

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt parameter numbers in glibc's <malloc.h>
MMAP_THRESHOLD_BYTES = 4 * 2**20  # blocks at least this large are mmapped and unmapped when freed
TRIM_THRESHOLD_BYTES = 64 * 2**20  # free memory at the top of a heap kept for the next allocations

_libc: ctypes.CDLL | bool | None = None  # looked up on first use; False: not glibc


def _glibc():
    global _libc
    if _libc is None:
        try:
            lib = ctypes.CDLL("libc.so.6")
            _libc = lib if hasattr(lib, "malloc_trim") and hasattr(lib, "mallopt") else False
        except OSError:
            _libc = False
    return _libc or None


def fix_mmap_threshold(nbytes: int = MMAP_THRESHOLD_BYTES, keep_bytes: int = TRIM_THRESHOLD_BYTES) -> bool:
    """Serve blocks of ``nbytes`` or more by mmap for the rest of the process (this also switches off glibc's
    dynamic thresholds), and let each heap keep up to ``keep_bytes`` free at its top between allocations.
    True when glibc accepted both."""
    lib = _glibc()
    return bool(
        lib is not None
        and lib.mallopt(M_MMAP_THRESHOLD, int(nbytes))
        and lib.mallopt(M_TRIM_THRESHOLD, int(keep_bytes))
    )


def trim_heap() -> bool:
    """Hand freed heap pages back to the OS (``malloc_trim(0)``); True where glibc did it.

    Worker threads allocate from their own malloc arenas, which keep freed small blocks; a finished run's
    model and optimiser go back to the OS only after a trim. Costs a few milliseconds."""
    lib = _glibc()
    if lib is None:
        return False
    lib.malloc_trim(0)
    return True
