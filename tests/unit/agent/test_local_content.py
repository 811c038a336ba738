"""LocalContent: digests computed once per unchanged file, and local copies found by digest."""

from __future__ import annotations

import hashlib
import os

from lightning_ctl.agent.local_content import LocalContent


def test_an_unchanged_file_is_hashed_once_and_a_changed_one_again(tmp_path):
    """The digest is cached by (size, mtime, inode): a rewrite is noticed and hashed again."""
    path = tmp_path / "f.bin"
    path.write_bytes(b"a" * 1000)
    content = LocalContent()
    assert content.digest_of(str(path)) == hashlib.sha256(b"a" * 1000).hexdigest()
    content.digest_of(str(path))
    assert content.hashed_bytes == 1000
    path.write_bytes(b"b" * 1001)
    assert content.digest_of(str(path)) == hashlib.sha256(b"b" * 1001).hexdigest()


def test_copy_sources_are_only_unchanged_files(tmp_path):
    """A file known to hold a digest is offered as a copy source until it changes or goes."""
    path = tmp_path / "f.bin"
    path.write_bytes(b"c" * 10)
    content = LocalContent()
    digest = content.digest_of(str(path))
    assert content.copy_source(digest) == str(path)
    assert content.copy_source(digest, exclude=str(path)) is None
    os.utime(path, ns=(1, 1))
    assert content.copy_source(digest) is None


def test_the_index_is_bounded(tmp_path):
    """Past its size the least recently used files are forgotten."""
    content = LocalContent(max_entries=2)
    for index in range(3):
        path = tmp_path / f"{index}.bin"
        path.write_bytes(bytes([index]) * 5)
        content.digest_of(str(path))
    first = hashlib.sha256(bytes([0]) * 5).hexdigest()
    assert content.copy_source(first) is None
