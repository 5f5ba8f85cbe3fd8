"""State cache files: one pickled state value per file, mapped read-only and shared by processes.

A file holds one state value (one ``motion.blobs`` row), named by the SHA-256 digest of the blob's
stored pickle, so it never changes once written and every process on the host that maps it shares
its pages. The value is re-pickled with protocol 5 and out-of-band buffers: NumPy arrays (and other
objects that export ``PickleBuffer``) are stored as raw, 64-byte aligned regions that
:func:`read_value` hands to ``pickle.loads`` as views of the ``mmap``, so they are never copied.

Layout::

    magic (8) | header length (4, little-endian) | SHA-256 of the header (32)
    header (JSON: digest, stream offset, length and SHA-256, buffer offsets and lengths, size)
    pickle stream | buffer 0 | buffer 1 | ...

The checksum covers the header and the pickle stream, which are small; the buffers are not hashed
on load (that would cost as much as unpickling), so their integrity rests on the file system, like
the database's own pages. A file is written to a private temporary name and renamed into place, so
readers see a whole file or none; a truncated, corrupted or foreign file raises
:class:`CacheFileError` with the reason and the caller reads the database instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import mmap
import os
import pickle
import stat
import struct
from typing import Any, BinaryIO

MAGIC = b"MPSTATE1"
_PREFIX = struct.Struct("<8sI32s")
_ALIGN = 64
_ROOM = 64 * 1024  # the header's room before a streamed pickle: ~2,900 buffers
SUFFIX = ".mps"


class CacheFileError(Exception):
    """A cache file or directory that must not be used; the message says why."""


def file_name(digest: bytes) -> str:
    """The file name of the value whose stored pickle has SHA-256 ``digest``."""
    if len(digest) != 32:
        raise CacheFileError(f"a blob digest must be 32 bytes, got {len(digest)}")
    return digest.hex() + SUFFIX


def check_dir(path: str, owner: int, *, create: bool) -> None:
    """Make sure ``path`` is a real directory (not a symlink) owned by uid ``owner`` that no other
    user may write to; create it with mode 0700 when ``create`` and it does not exist."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        if not create:
            raise CacheFileError(f"the state cache directory {path} does not exist") from None
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, 0o700)
        st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise CacheFileError(f"the state cache path {path} is not a directory (or is a symlink)")
    if st.st_uid != owner:
        raise CacheFileError(
            f"the state cache directory {path} is owned by uid {st.st_uid}, not {owner}"
        )
    if st.st_mode & 0o022:
        raise CacheFileError(
            f"the state cache directory {path} is writable by other users "
            f"(mode {stat.S_IMODE(st.st_mode):o})"
        )


def write_value(
    directory: str, digest: bytes, value: Any, *, replace: bool = True, owner: int | None = None
) -> int:
    """Write ``value`` as the cache file for ``digest`` in ``directory`` (temporary file, then an
    atomic rename; mode 0600); returns the file's size. Without ``replace`` a file another process
    wrote meanwhile is kept (and mapped by whoever maps it: one copy on the host). A process
    running as root gives the file to uid ``owner`` (the directory's), whose readers check it.

    The pickle stream goes straight to the file (hashed on its way) after a header room of
    :data:`_ROOM` bytes, so the writer never holds the value's pickle beside the value; a header
    that does not fit the room (thousands of buffers) is written the slower way, after pickling
    in memory."""
    final = os.path.join(directory, file_name(digest))
    temp = os.path.join(directory, f".{digest.hex()}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        if owner is not None and owner != os.getuid():
            os.fchown(fd, owner, os.lstat(directory).st_gid)
        with os.fdopen(fd, "wb") as f:
            size = _stream_into(f, digest, value)
            if size is None:
                f.seek(0)
                f.truncate()
                size = _whole_into(f, digest, value)
        if replace:
            os.rename(temp, final)
        else:
            with contextlib.suppress(FileExistsError):
                os.link(temp, final)
            os.unlink(temp)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    return size


class _Hashing:
    """A file's ``write`` that hashes and counts what passes."""

    def __init__(self, f: BinaryIO) -> None:
        self.f, self.sha, self.count = f, hashlib.sha256(), 0

    def write(self, data: Any) -> int:
        self.sha.update(data)
        n = self.f.write(data)
        self.count += n
        return n


def _layout(start: int, length: int, raws: list[memoryview]) -> tuple[list[list[int]], int]:
    """Aligned offsets of the buffers after a stream at ``start``, and the file's size."""
    offset = start + length
    layout: list[list[int]] = []
    for raw in raws:
        offset = -(-offset // _ALIGN) * _ALIGN
        layout.append([offset, raw.nbytes])
        offset += raw.nbytes
    return layout, offset


def _finish(f: BinaryIO, text: bytes, layout: list[list[int]], raws: list[memoryview]) -> None:
    for (start, _length), raw in zip(layout, raws, strict=True):
        f.write(b"\0" * (start - f.tell()))
        f.write(raw)
    f.seek(0)
    f.write(_PREFIX.pack(MAGIC, len(text), hashlib.sha256(text).digest()))
    f.write(text)


def _stream_into(f: BinaryIO, digest: bytes, value: Any) -> int | None:
    """Write the file streaming the pickle; None when the header outgrew its room."""
    start = _PREFIX.size + _ROOM
    f.seek(start)
    sink = _Hashing(f)
    buffers: list[pickle.PickleBuffer] = []
    pickle.Pickler(sink, protocol=5, buffer_callback=buffers.append).dump(value)
    raws = [b.raw() for b in buffers]
    layout, size = _layout(start, sink.count, raws)
    header = {"digest": digest.hex(), "stream": [start, sink.count],
              "stream_sha256": sink.sha.hexdigest(), "buffers": layout, "size": size}  # fmt: skip
    text = json.dumps(header, separators=(",", ":")).encode()
    if len(text) > _ROOM:
        return None
    _finish(f, text.ljust(_ROOM), layout, raws)  # JSON allows the trailing spaces
    return size


def _whole_into(f: BinaryIO, digest: bytes, value: Any) -> int:
    """Write the file from the pickle made in memory, the header as long as it needs."""
    buffers: list[pickle.PickleBuffer] = []
    stream = pickle.dumps(value, protocol=5, buffer_callback=buffers.append)
    raws = [b.raw() for b in buffers]
    header: dict[str, Any] = {"digest": digest.hex(), "stream": [0, len(stream)],
                              "stream_sha256": hashlib.sha256(stream).hexdigest(),
                              "buffers": [], "size": 0}  # fmt: skip
    # offsets depend on the header's length, which depends on the offsets: fix the point
    for _ in range(4):
        text = json.dumps(header, separators=(",", ":")).encode()
        start = _PREFIX.size + len(text)
        header["stream"] = [start, len(stream)]
        header["buffers"], header["size"] = _layout(start, len(stream), raws)
        if json.dumps(header, separators=(",", ":")).encode() == text:
            break
    f.seek(_PREFIX.size + len(text))
    f.write(stream)
    _finish(f, text, header["buffers"], raws)
    return int(header["size"])


def read_value(directory: str, digest: bytes, owner: int) -> Any:
    """The value of the cache file for ``digest``, its buffers views of a read-only ``mmap``.

    Raises :class:`FileNotFoundError` when there is no file, :class:`CacheFileError` (with the
    reason) when it is not a regular file owned by uid ``owner`` and private to it, is truncated,
    fails its checksum or holds another digest."""
    path = os.path.join(directory, file_name(digest))
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != owner or st.st_mode & 0o077:
            raise CacheFileError(
                f"{path} is not a regular file private to uid {owner} "
                f"(uid {st.st_uid}, mode {stat.S_IMODE(st.st_mode):o})"
            )
        if st.st_size < _PREFIX.size:
            raise CacheFileError(f"{path} is truncated ({st.st_size} bytes)")
        mapped = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
    finally:
        os.close(fd)
    view = memoryview(mapped)
    magic, length, checksum = _PREFIX.unpack_from(view)
    if magic != MAGIC:
        raise CacheFileError(f"{path} is not a motion state cache file (bad magic)")
    if _PREFIX.size + length > len(view):
        raise CacheFileError(f"{path} is truncated (its header runs past the end)")
    text = bytes(view[_PREFIX.size : _PREFIX.size + length])
    if hashlib.sha256(text).digest() != checksum:
        raise CacheFileError(f"{path} fails its header checksum (corrupted)")
    try:
        header = json.loads(text)
        start, size = header["stream"]
        if start + size > len(view) or header["size"] > len(view):
            raise CacheFileError(f"{path} is truncated ({len(view)} of {header['size']} bytes)")
        stream = view[start : start + size]
        if hashlib.sha256(stream).hexdigest() != header["stream_sha256"]:
            raise CacheFileError(f"{path} fails its pickle stream checksum (corrupted)")
        if header["size"] != len(view):
            raise CacheFileError(
                f"{path} is {len(view)} bytes long, its header says {header['size']}"
            )
        if header["digest"] != digest.hex():
            raise CacheFileError(f"{path} holds the value of another digest")
        buffers = [view[a : a + n] for a, n in header["buffers"]]
    except (ValueError, KeyError, TypeError) as e:
        raise CacheFileError(f"{path} has a malformed header: {e}") from e
    return pickle.loads(stream, buffers=buffers)
