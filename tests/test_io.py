"""Files written whole or not at all, with the mode a newly created file would have."""

import errno
import os
import stat

import pytest

from titans_seq._io import atomic_write_text, check_file_path, folder_lock, replacing


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_written_files_are_as_readable_as_newly_created_ones(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    written = atomic_write_text(tmp_path / "results" / "run.json", "{}\n")
    assert written.read_text() == "{}\n" and mode(written) == mode(plain)


def test_writing_never_changes_the_process_umask(tmp_path, monkeypatch):
    """Reading the umask means setting it, and another thread's new files would get that mode meanwhile."""
    def changed(mask):
        raise AssertionError(f"os.umask({mask:o}) called")

    monkeypatch.setattr(os, "umask", changed)
    assert atomic_write_text(tmp_path / "run.json", "{}\n").read_text() == "{}\n"


@pytest.mark.skipif(os.name != "posix", reason="a folder is flushed on POSIX only")
def test_the_content_reaches_the_disk_before_the_rename_and_the_rename_after(tmp_path, monkeypatch):
    steps = []
    sync, replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: steps.append("fsync") or sync(fd))
    monkeypatch.setattr(os, "replace", lambda a, b: steps.append("replace") or replace(a, b))
    atomic_write_text(tmp_path / "run.json", "{}\n")
    assert steps == ["fsync", "replace", "fsync"]  # the file's content, the rename, the folder's entry


@pytest.mark.skipif(os.name != "posix", reason="symbolic links")
def test_a_symbolic_link_is_written_where_it_points(tmp_path):
    (tmp_path / "real.csv").write_text("old")
    (tmp_path / "predictions.csv").symlink_to("real.csv")
    atomic_write_text(tmp_path / "predictions.csv", "new")
    assert (tmp_path / "predictions.csv").is_symlink() and (tmp_path / "real.csv").read_text() == "new"


def test_a_failed_write_leaves_nothing_and_exclusive_keeps_the_first(tmp_path):
    target = tmp_path / "model.pt"
    with pytest.raises(RuntimeError), replacing(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
    atomic_write_text(target, "first", exclusive=True)
    with pytest.raises(FileExistsError):
        atomic_write_text(target, "second", exclusive=True)
    assert target.read_text() == "first" and [p.name for p in tmp_path.iterdir()] == ["model.pt"]


@pytest.mark.parametrize("code", [errno.EPERM, errno.EOPNOTSUPP])
def test_exclusive_writes_work_without_hard_links(tmp_path, monkeypatch, code):
    def no_hard_links(source, target):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "link", no_hard_links)
    target = tmp_path / "run.json"
    atomic_write_text(target, "first", exclusive=True)
    with pytest.raises(FileExistsError):
        atomic_write_text(target, "second", exclusive=True)
    assert target.read_text() == "first" and [p.name for p in tmp_path.iterdir()] == ["run.json"]


def test_a_path_that_cannot_take_a_file_is_refused_before_anything_is_written(tmp_path):
    (tmp_path / "afile").write_text("x")
    for path, message in ((tmp_path, "is a folder"), ("", "the path is empty"),
                          (tmp_path / "afile" / "sub" / "out.txt", "lies under .*afile, which is a file")):
        with pytest.raises(ValueError, match=message):
            check_file_path(path)
        with pytest.raises(ValueError, match=message), replacing(path):
            pytest.fail("the block ran")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    if not os.access(locked, os.W_OK):  # root writes anywhere
        with pytest.raises(PermissionError, match=r"locked/new/out\.txt: the folder .*locked cannot be written to"):
            check_file_path(locked / "new" / "out.txt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "locked"]


def test_a_link_is_replaced_rather_than_written_through_where_asked(tmp_path):
    """A last.ckpt linking to the best checkpoint: writing it must not overwrite the best one."""
    (tmp_path / "best.ckpt").write_text("best")
    (tmp_path / "last.ckpt").symlink_to("best.ckpt")
    atomic = tmp_path / "last.ckpt"
    with replacing(atomic, follow_symlinks=False) as tmp:
        tmp.write_text("newest")
    assert (tmp_path / "best.ckpt").read_text() == "best"
    assert not atomic.is_symlink() and atomic.read_text() == "newest"


def test_a_folder_lock_that_the_filesystem_refuses_is_gone_without(tmp_path, monkeypatch):
    """NFS can refuse flock on a folder (ENOLCK): the block runs unlocked, as where there is no fcntl."""
    import fcntl

    def refuse(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", refuse)
    ran = []
    with folder_lock(tmp_path / "cache"):
        ran.append(True)
    assert ran == [True]
