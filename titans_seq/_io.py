"""Writing files whole or not at all: a temporary file in the same folder, renamed into place."""

from __future__ import annotations

import errno
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _new_file(folder: Path, prefix: str, suffix: str) -> Path:
    """A new empty file of a unique name in ``folder``, with the mode the umask gives a new file: created with
    ``0o666`` for the kernel to mask, where ``mkstemp`` gives ``0o600`` and reading the umask means setting it,
    which races with other threads creating files."""
    while True:
        name = folder / f"{prefix}{secrets.token_hex(8)}{suffix}"
        try:
            os.close(os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            return name
        except FileExistsError:
            continue


def check_file_path(path: str | os.PathLike, what: str = "the path") -> None:
    """Raise unless a file can be written at ``path``, before anything is: a ``ValueError`` naming ``what`` for an
    empty path, a folder, or a path under a file; a ``PermissionError`` for a folder that cannot be written to."""
    if not os.fspath(path):
        raise ValueError(f"{what} is empty; give a file's path")
    path = Path(os.path.realpath(path))
    if path.is_dir():
        raise ValueError(f"{what} {path} is a folder; give a file's path")
    folder = path.parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise ValueError(f"{what} {path} lies under {folder}, which is a file, not a folder")
    if not os.access(folder, os.W_OK):
        raise PermissionError(f"{what} {path}: the folder {folder} cannot be written to")


@contextmanager
def replacing(path: str | os.PathLike, suffix: str = ".tmp", exclusive: bool = False,
              follow_symlinks: bool = True) -> Iterator[Path]:
    """A temporary file beside ``path`` for the block to write; if the block ends without an error, it
    becomes ``path`` (readers see the old file or the new one, never a part), else it is removed.

    The file's content reaches the disk before the rename, and the rename before the block returns, so that a
    crash leaves the old file or the new one too. A ``path`` that is a symbolic link is written where it points,
    or with ``follow_symlinks=False`` replaced by the file.
    The file gets the mode a newly created one would. With ``exclusive``, an existing ``path`` is left alone
    and ``FileExistsError`` raised instead (the check and the rename are one step, so two processes cannot
    both claim a name). On a filesystem without hard links the name is claimed by creating it empty, then
    the file is renamed over it, so a reader may briefly see an empty file there.
    """
    check_file_path(path)
    folder, name = os.path.split(os.path.abspath(path))
    path = Path(os.path.realpath(path)) if follow_symlinks else Path(os.path.realpath(folder)) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_file(path.parent, f".{path.name}.", suffix)
    try:
        yield tmp
        _sync(tmp, os.O_RDWR)
        if exclusive:
            _claim(tmp, path)
        else:
            os.replace(tmp, path)
        if os.name == "posix":  # a folder opens for fsync there only
            _sync(path.parent, os.O_RDONLY)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def folder_lock(folder: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (created if missing) while the block runs, so that processes taking it
    (DDP ranks filling one cache) run their blocks one at a time. The lock is the folder's own (``flock``), so
    nothing is left behind; where there is no ``fcntl`` (Windows) no lock is taken."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as error:  # NFS may refuse a lock on a folder: go on unlocked, as where there is no fcntl
            if error.errno not in (errno.ENOLCK, errno.EBADF, errno.EOPNOTSUPP, errno.EINVAL):
                raise
        yield
    finally:
        os.close(fd)  # which releases the lock


def _sync(path: Path, mode: int) -> None:
    """Flush ``path`` (a file, or a folder's entries) to the disk."""
    fd = os.open(path, mode)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# What os.link raises where the filesystem has no hard links (FAT, exFAT, some network and FUSE mounts).
_NO_HARD_LINKS = {errno.EPERM, errno.EACCES, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS}


def _claim(tmp: Path, path: Path) -> None:
    """Give ``tmp`` the name ``path`` unless ``path`` exists (``FileExistsError``): one atomic hard link, or
    where there are none, an exclusive create of ``path`` then a rename over it."""
    try:
        os.link(tmp, path)
    except OSError as error:
        if error.errno not in _NO_HARD_LINKS:
            raise
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        try:
            os.replace(tmp, path)
        except BaseException:
            path.unlink(missing_ok=True)
            raise


def atomic_write_text(path: str | os.PathLike, text: str, exclusive: bool = False) -> Path:
    """Write ``text`` to ``path`` whole or not at all (see :func:`replacing`)."""
    with replacing(path, exclusive=exclusive) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)
