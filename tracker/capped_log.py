"""A child's output in its log, capped: the first and the last halves kept, the middle counted and said
to be cut, nothing held in memory. tracker.measure runs a child with a capped log through a pipe and a
thread that calls `carry` until the pipe ends, then `close`.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

READ_CHUNK = 1 << 20  # bytes a splice moves at most (kernel to kernel)
COPY_CHUNK = 1 << 16  # bytes a copy of the kept tail holds in memory


class CappedLog:
    """Moves a child's output from its pipe to its log, keeping the first half of the cap as it comes and the
    last half through two spool files that take turns (each up to half the cap), so that what the log keeps
    is known without holding it in memory; the middle is counted, dropped, and said to be cut. Bytes go from
    the pipe to the files inside the kernel (splice) where it can."""

    def __init__(self, path: Path, cap_mb: float):
        cap = max(2, int(cap_mb * 1024 * 1024))
        self.head_left, self.tail_size, self.total = cap // 2, cap - cap // 2, 0
        self.head_size = self.head_left
        self.log = os.open(path, os.O_WRONLY)  # not O_APPEND: splice refuses a file opened to append
        os.lseek(self.log, 0, os.SEEK_END)
        self.spools = [tempfile.TemporaryFile(dir=path.parent), tempfile.TemporaryFile(dir=path.parent)]
        self.sizes = [0, 0]
        self.current = 0

    def carry(self, pipe: int) -> None:
        """Move what the pipe brings until every writer has closed it."""
        while True:
            if self.head_left:
                moved = _move(pipe, self.log, min(self.head_left, READ_CHUNK))
                self.head_left -= moved
            else:
                if self.sizes[self.current] >= self.tail_size:
                    self.current ^= 1
                    os.ftruncate(self.spools[self.current].fileno(), 0)
                    os.lseek(self.spools[self.current].fileno(), 0, os.SEEK_SET)
                    self.sizes[self.current] = 0
                room = self.tail_size - self.sizes[self.current]
                moved = _move(pipe, self.spools[self.current].fileno(), min(room, READ_CHUNK))
                self.sizes[self.current] += moved
            if not moved:
                return
            self.total += moved

    def close(self) -> None:
        newer, older = self.current, self.current ^ 1
        from_older = min(self.sizes[older], self.tail_size - self.sizes[newer])
        cut = self.total - (self.head_size - self.head_left) - self.sizes[newer] - from_older
        if cut:
            os.write(self.log, f"\n[... {cut} bytes of output cut here: the log keeps the first {self.head_size} "
                               f"and the last {self.tail_size} bytes (log_mb) ...]\n".encode())
        _copy(self.spools[older].fileno(), self.sizes[older] - from_older, self.sizes[older], self.log)
        _copy(self.spools[newer].fileno(), 0, self.sizes[newer], self.log)
        for spool in self.spools:
            spool.close()
        os.close(self.log)


def _move(src: int, dest: int, count: int) -> int:
    """Up to `count` bytes from the pipe to the file (0 at the pipe's end): spliced where Linux allows."""
    if hasattr(os, "splice"):
        return os.splice(src, dest, count)
    data = os.read(src, count)
    return os.write(dest, data) if data else 0


def _copy(src: int, start: int, end: int, dest: int) -> None:
    while start < end:
        chunk = os.pread(src, min(COPY_CHUNK, end - start), start)
        os.write(dest, chunk)
        start += len(chunk)
