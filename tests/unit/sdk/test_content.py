"""Content-addressed copies: resumable, verified, atomic; walking files and folders into entries."""

from __future__ import annotations

import hashlib
import os

import pytest

from lightning_ctl.sdk._content import (
    ContentError,
    PartialCopy,
    check_relative,
    copy_local,
    partial_path,
    swap_in,
    walk,
)

DATA = os.urandom(3 << 20)
DIGEST = hashlib.sha256(DATA).hexdigest()


def test_an_interrupted_copy_resumes_and_appears_whole(tmp_path):
    """Bytes written before an interruption are kept beside the destination (hidden), and the next copy of the same
    content goes on from there; the destination appears only once whole and verified."""
    destination = str(tmp_path / "file.bin")
    with PartialCopy(destination, DIGEST, len(DATA)) as copy:
        copy.write(DATA[: 1 << 20])
    assert not os.path.exists(destination) and os.path.getsize(partial_path(destination, DIGEST)) == 1 << 20
    with PartialCopy(destination, DIGEST, len(DATA)) as copy:
        assert copy.offset == 1 << 20
        copy.write(DATA[copy.offset:])
        copy.finish(0o640)
    assert open(destination, "rb").read() == DATA and oct(os.stat(destination).st_mode & 0o777) == "0o640"
    assert not os.path.exists(partial_path(destination, DIGEST))


def test_a_corrupt_copy_is_discarded(tmp_path):
    """Content that does not hash to its digest never reaches the destination, and its partial file goes."""
    destination = str(tmp_path / "file.bin")
    copy = PartialCopy(destination, DIGEST, len(DATA))
    copy.write(b"x" * len(DATA))
    with pytest.raises(ContentError, match="corrupt"):
        copy.finish()
    assert not os.path.exists(destination) and not os.path.exists(partial_path(destination, DIGEST))


def test_more_bytes_than_announced_are_refused(tmp_path):
    """A sender cannot write past the announced size."""
    with PartialCopy(str(tmp_path / "f"), DIGEST, 10) as copy, pytest.raises(ContentError):
        copy.write(b"x" * 11)


def test_local_copy_verifies_its_source(tmp_path):
    """copy_local refuses a source whose content is not the digest (it changed since it was seen)."""
    source = tmp_path / "source.bin"
    source.write_bytes(DATA)
    copy_local(str(source), str(tmp_path / "copy.bin"), DIGEST, len(DATA))
    assert (tmp_path / "copy.bin").read_bytes() == DATA
    source.write_bytes(b"y" * len(DATA))
    with pytest.raises(ContentError):
        copy_local(str(source), str(tmp_path / "other.bin"), DIGEST, len(DATA))


def test_walk_a_folder_lists_files_and_empty_folders(tmp_path):
    """A folder walks to its regular files (relative POSIX paths, sizes, modes) and its empty folders."""
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "empty").mkdir()
    (tmp_path / "d" / "sub" / "x.txt").write_text("xx")
    is_dir, files, empty = walk(str(tmp_path / "d"))
    assert is_dir and [(f.relpath, f.size) for f in files] == [("sub/x.txt", 2)] and empty == ["empty"]
    assert walk(str(tmp_path / "d" / "sub" / "x.txt"))[1][0].relpath == ""
    with pytest.raises(FileNotFoundError):
        walk(str(tmp_path / "nope"))


@pytest.mark.parametrize("bad", ["/abs", "../up", "a/../b", "a//b", "a\\b"])
def test_unsafe_relative_paths_are_refused(bad):
    """Paths from the network that could escape their folder are refused."""
    with pytest.raises(ValueError):
        check_relative(bad, "entry")


def test_swap_in_replaces_a_file_or_a_folder(tmp_path):
    """A folder built beside its destination replaces whatever was there."""
    for existing in ("file", "folder"):
        destination = tmp_path / existing
        if existing == "file":
            destination.write_text("old")
        else:
            (destination / "old").mkdir(parents=True)
        staging = tmp_path / f".{existing}.staging"
        staging.mkdir()
        (staging / "new.txt").write_text("new")
        swap_in(str(staging), str(destination))
        assert sorted(os.listdir(destination)) == ["new.txt"] and not staging.exists()
