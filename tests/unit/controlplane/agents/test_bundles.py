"""Tests for controlplane.bundles: what goes into an app's code bundle, determinism, limits, chunks."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import shutil
import tarfile
from pathlib import Path
from typing import Iterator

import pytest

from lightning_ctl.controlplane.agents import app_bundle, bundles
from lightning_ctl.controlplane.agents.bundles import (
    DEFAULT_IGNORES,
    MAX_BUNDLE_BYTES,
    Bundle,
    BundleTooLargeError,
    build_bundle,
    iter_chunks,
)
from lightning_ctl.sdk.errors import LightningError, MisconfigurationException


def write(path: Path, content: str | bytes = "x") -> Path:
    """Write ``content`` to ``path``, making its parents."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def members(bundle: Bundle) -> dict[str, tarfile.TarInfo]:
    """The bundle's tar members by name."""
    with tarfile.open(fileobj=io.BytesIO(bundle.data), mode="r:gz") as tar:
        return {member.name: member for member in tar.getmembers()}


def names(bundle: Bundle) -> set[str]:
    """Names of the bundle's members."""
    return set(members(bundle))


def content(bundle: Bundle, name: str) -> bytes:
    """The content of member ``name``."""
    with tarfile.open(fileobj=io.BytesIO(bundle.data), mode="r:gz") as tar:
        extracted = tar.extractfile(name)
        assert extracted is not None
        return extracted.read()


@pytest.fixture
def app(tmp_path: Path) -> Path:
    """An app folder with an app file, a package and a data file; returns the app file."""
    folder = tmp_path / "myapp"
    write(folder / "pkg" / "__init__.py", "")
    write(folder / "pkg" / "model.py", "class Model: ...\n")
    write(folder / "README.md", "# my app\n")
    return write(folder / "app.py", "from pkg.model import Model\n")


class TestContent:
    def test_bundle_holds_the_folder(self, app: Path) -> None:
        """Files and directories of the app's folder are in the bundle, with their content."""
        bundle = build_bundle(app)
        assert names(bundle) == {"app.py", "README.md", "pkg", "pkg/__init__.py", "pkg/model.py"}
        assert content(bundle, "pkg/model.py") == b"class Model: ...\n"
        assert bundle.file_count == 4

    def test_digest_is_sha256_of_data(self, app: Path) -> None:
        """The digest is the hex SHA-256 of the bundle's bytes."""
        bundle = build_bundle(app)
        assert bundle.digest == hashlib.sha256(bundle.data).hexdigest()

    def test_app_relpath_is_the_app_file_name(self, app: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """app_relpath names the app file inside the bundle, whatever the path given."""
        monkeypatch.chdir(app.parent.parent)
        assert build_bundle(Path("myapp") / "app.py").app_relpath == "app.py"
        assert build_bundle(str(app)).app_relpath == "app.py"

    def test_missing_app_file(self, tmp_path: Path) -> None:
        """A missing app file raises FileNotFoundError naming it."""
        with pytest.raises(FileNotFoundError, match="nope.py"):
            build_bundle(tmp_path / "nope.py")

    def test_app_file_excluded_by_ignore_file(self, app: Path) -> None:
        """An ignore file that leaves out the app file itself is a clear error."""
        write(app.parent / ".lightningignore", "*.py\n")
        with pytest.raises(MisconfigurationException, match="app.py is excluded"):
            build_bundle(app)

    def test_metadata_is_normalized(self, app: Path) -> None:
        """Members have time 0, owner 0 and no owner names; files 0o644, executables and directories 0o755."""
        script = write(app.parent / "run.sh", "#!/bin/sh\n")
        script.chmod(0o700)
        (app.parent / "README.md").chmod(0o600)
        found = members(build_bundle(app))
        for member in found.values():
            assert (member.mtime, member.uid, member.gid, member.uname, member.gname) == (0, 0, 0, "", "")
        assert found["README.md"].mode == 0o644
        assert found["run.sh"].mode == 0o755
        assert found["pkg"].mode == 0o755 and found["pkg"].isdir()

    def test_gzip_header_has_no_time_or_name(self, app: Path) -> None:
        """The gzip header has mtime 0 and no file name flag."""
        data = build_bundle(app).data
        assert data[:3] == b"\x1f\x8b\x08"
        assert data[3] & 0x08 == 0
        assert data[4:8] == b"\x00\x00\x00\x00"


class TestFolderChangingWhileBundled:
    """Editors and tools create and remove files in the app's folder at any moment; a bundle is what exists."""

    def test_a_file_removed_after_the_walk_is_left_out(self, app: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """The walk saw ``.#app.py`` (an editor's lock file) and it is gone when read: the rest is bundled."""
        lock = write(app.parent / ".#app.py", "lock")
        real_walk = bundles._walk

        def walk_then_remove(folder: Path, rules: tuple) -> Iterator[bundles._Entry]:  # noqa: ANN001
            entries = list(real_walk(folder, rules))
            lock.unlink()
            return iter(entries)

        monkeypatch.setattr(bundles, "_walk", walk_then_remove)
        bundle = build_bundle(app)
        assert ".#app.py" not in names(bundle) and "app.py" in names(bundle)
        assert bundle.file_count == 4

    def test_a_file_removed_while_the_folder_is_listed_is_left_out(
        self, app: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Listed by scandir, removed before its size is read: left out, no error."""
        swap = write(app.parent / "pkg" / ".model.py.swp", "swap")
        real_scandir = os.scandir

        class ListThenRemove:
            def __init__(self, path: str) -> None:
                self.path = path

            def __enter__(self) -> list[os.DirEntry[str]]:
                with real_scandir(self.path) as scan:
                    children = list(scan)
                if swap.exists() and self.path == str(swap.parent):
                    swap.unlink()
                return children

            def __exit__(self, *exc: object) -> None:
                return None

        monkeypatch.setattr(bundles.os, "scandir", ListThenRemove)
        bundle = build_bundle(app)
        assert "pkg/.model.py.swp" not in names(bundle) and "pkg/model.py" in names(bundle)

    def test_a_build_that_failed_reading_a_file_is_tried_again(
        self, app: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A file rewritten while it was read fails one build (tarfile: unexpected end of data); the next succeeds."""
        real_build = app_bundle.build_bundle
        failures = iter([OSError("unexpected end of data")])

        def flaky(app_file: str) -> Bundle:
            for failure in failures:
                raise failure
            return real_build(app_file)

        monkeypatch.setattr(app_bundle, "build_bundle", flaky)
        assert "app.py" in names(app_bundle.build_settled(str(app)))

    def test_a_build_failing_every_time_raises(self, app: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """An error that does not go away is not hidden: after BUILD_ATTEMPTS builds it is raised."""
        calls = []

        def broken(app_file: str) -> Bundle:
            calls.append(app_file)
            raise PermissionError("pkg/model.py: permission denied")

        monkeypatch.setattr(app_bundle, "build_bundle", broken)
        with pytest.raises(PermissionError, match="permission denied"):
            app_bundle.build_settled(str(app))
        assert len(calls) == app_bundle.BUILD_ATTEMPTS


class TestDeterminism:
    def test_same_tree_same_digest(self, app: Path) -> None:
        """Bundling the same tree twice gives the same bytes."""
        assert build_bundle(app).data == build_bundle(app).data

    def test_edit_changes_digest(self, app: Path) -> None:
        """Changing a file's content changes the digest."""
        before = build_bundle(app).digest
        write(app.parent / "pkg" / "model.py", "class Model: pass\n")
        assert build_bundle(app).digest != before

    def test_new_file_changes_digest(self, app: Path) -> None:
        """Adding a file changes the digest."""
        before = build_bundle(app).digest
        write(app.parent / "extra.txt", "")
        assert build_bundle(app).digest != before

    def test_mtimes_do_not_matter(self, app: Path) -> None:
        """Touching files (new mtimes) keeps the digest."""
        before = build_bundle(app).digest
        for path in app.parent.rglob("*"):
            os.utime(path, (1_000_000, 1_000_000))
        assert build_bundle(app).digest == before

    def test_permissions_other_than_exec_do_not_matter(self, app: Path) -> None:
        """Read/write permission bits do not change the digest."""
        before = build_bundle(app).digest
        (app.parent / "README.md").chmod(0o600)
        assert build_bundle(app).digest == before

    def test_location_does_not_matter(self, app: Path, tmp_path: Path) -> None:
        """The same tree copied elsewhere (different absolute path, creation order) has the same digest."""
        copy = tmp_path / "elsewhere" / "deeper"
        shutil.copytree(app.parent, copy)
        assert build_bundle(copy / "app.py").digest == build_bundle(app).digest


class TestDefaultIgnores:
    def test_defaults_are_left_out(self, app: Path) -> None:
        """VCS folders, caches, bytecode, node_modules and egg-info are not bundled."""
        folder = app.parent
        for name in (".git/HEAD", "__pycache__/app.cpython-311.pyc", "pkg/__pycache__/m.pyc", "stray.pyc",
                     "node_modules/x/index.js", ".mypy_cache/x", ".pytest_cache/x", ".tox/x",
                     "myapp.egg-info/PKG-INFO", ".lightning-ctl/token", ".DS_Store", ".venv/lib/x.py",
                     "venv/lib/x.py"):
            write(folder / name)
        assert names(build_bundle(app)) == {"app.py", "README.md", "pkg", "pkg/__init__.py", "pkg/model.py"}

    def test_any_virtualenv_is_left_out(self, app: Path) -> None:
        """A directory holding pyvenv.cfg is left out whatever its name, at any depth."""
        write(app.parent / "myenv" / "pyvenv.cfg", "home = /usr\n")
        write(app.parent / "myenv" / "lib" / "site.py")
        write(app.parent / "pkg" / "env" / "pyvenv.cfg")
        assert not {name for name in names(build_bundle(app)) if "env" in name}

    def test_env_without_pyvenv_cfg_is_kept(self, app: Path) -> None:
        """A directory named env that is not a virtualenv is bundled."""
        write(app.parent / "env" / "settings.py")
        assert "env/settings.py" in names(build_bundle(app))

    def test_default_list(self) -> None:
        """The defaults name the usual VCS, cache and environment folders."""
        assert {".git", "__pycache__", "*.pyc", ".venv", "venv", "node_modules", "*.egg-info"} <= set(
            DEFAULT_IGNORES
        )


class TestLightningIgnore:
    def ignore(self, app: Path, text: str) -> set[str]:
        """Names bundled with ``text`` as the .lightningignore."""
        write(app.parent / ".lightningignore", text)
        return names(build_bundle(app))

    def test_name_pattern_matches_at_any_depth(self, app: Path) -> None:
        """A pattern without a slash matches names at any depth."""
        write(app.parent / "a.log")
        write(app.parent / "pkg" / "deep" / "b.log")
        found = self.ignore(app, "*.log\n")
        assert "a.log" not in found and "pkg/deep/b.log" not in found and "pkg/deep" in found

    def test_anchored_pattern_matches_from_the_root(self, app: Path) -> None:
        """A leading slash matches only at the top of the folder."""
        write(app.parent / "build" / "out.bin")
        write(app.parent / "pkg" / "build" / "keep.py")
        found = self.ignore(app, "/build\n")
        assert "build" not in found and "build/out.bin" not in found
        assert "pkg/build/keep.py" in found

    def test_pattern_with_slash_matches_relative_path(self, app: Path) -> None:
        """A pattern with a slash matches the path relative to the folder."""
        write(app.parent / "docs" / "a.md")
        write(app.parent / "docs" / "a.txt")
        write(app.parent / "other" / "docs" / "b.md")
        found = self.ignore(app, "docs/*.md\n")
        assert "docs/a.md" not in found
        assert {"docs/a.txt", "other/docs/b.md"} <= found

    def test_trailing_slash_matches_directories_only(self, app: Path) -> None:
        """``data/`` leaves out directories named data, not files named data."""
        write(app.parent / "data" / "big.bin")
        write(app.parent / "pkg" / "data")
        found = self.ignore(app, "data/\n")
        assert "data" not in found and "data/big.bin" not in found
        assert "pkg/data" in found

    def test_negation_includes_again(self, app: Path) -> None:
        """``!pattern`` brings back what an earlier pattern left out."""
        write(app.parent / "a.log")
        write(app.parent / "keep.log")
        found = self.ignore(app, "*.log\n!keep.log\n")
        assert "a.log" not in found and "keep.log" in found

    def test_negation_can_restore_a_default(self, app: Path) -> None:
        """A negation can bring back a folder left out by default (last match wins)."""
        write(app.parent / "venv" / "data.csv")
        assert "venv/data.csv" in self.ignore(app, "!venv\n")

    def test_ignored_directory_is_not_descended(self, app: Path) -> None:
        """Nothing below a left-out directory comes back, as in git."""
        write(app.parent / "logs" / "keep.txt")
        found = self.ignore(app, "logs/\n!logs/keep.txt\n")
        assert "logs/keep.txt" not in found

    def test_comments_and_blank_lines(self, app: Path) -> None:
        """Comment and blank lines are skipped; an escaped # is a pattern."""
        write(app.parent / "#notes")
        write(app.parent / "secret.txt")
        found = self.ignore(app, "# a comment: secret.txt\n\n   \n\\#notes\n")
        assert "secret.txt" in found and "#notes" not in found

    def test_ignore_file_itself_is_bundled(self, app: Path) -> None:
        """The .lightningignore file travels with the bundle."""
        assert ".lightningignore" in self.ignore(app, "*.tmp\n")


class TestSymlinks:
    def test_link_to_file_inside_is_a_copy(self, app: Path) -> None:
        """A symlink to a file inside the folder is bundled as a regular file with its content."""
        (app.parent / "alias.py").symlink_to(app.parent / "pkg" / "model.py")
        bundle = build_bundle(app)
        member = members(bundle)["alias.py"]
        assert member.isfile()
        assert content(bundle, "alias.py") == b"class Model: ...\n"

    def test_relative_link_inside(self, app: Path) -> None:
        """A relative symlink to a file inside the folder is bundled too."""
        (app.parent / "pkg" / "again.py").symlink_to("model.py")
        assert content(build_bundle(app), "pkg/again.py") == b"class Model: ...\n"

    def test_link_outside_is_skipped(self, app: Path, tmp_path: Path) -> None:
        """A symlink to a file outside the folder is left out without error."""
        outside = write(tmp_path / "secret.txt", "secret")
        (app.parent / "leak.txt").symlink_to(outside)
        (app.parent / "leak2.txt").symlink_to("../secret.txt")
        found = names(build_bundle(app))
        assert "leak.txt" not in found and "leak2.txt" not in found

    def test_link_to_directory_is_skipped(self, app: Path) -> None:
        """A symlink to a directory, even inside the folder, is left out."""
        (app.parent / "pkg2").symlink_to(app.parent / "pkg", target_is_directory=True)
        assert not {name for name in names(build_bundle(app)) if name.startswith("pkg2")}

    def test_broken_link_is_skipped(self, app: Path) -> None:
        """A dangling symlink is left out."""
        (app.parent / "gone.txt").symlink_to(app.parent / "missing.txt")
        assert "gone.txt" not in names(build_bundle(app))


class TestSizeLimit:
    def test_default_limit(self) -> None:
        """The default limit is 256 MiB."""
        assert MAX_BUNDLE_BYTES == 256 * 2**20

    def test_too_large_error_names_folder_limit_and_largest(self, app: Path) -> None:
        """Passing the limit raises an error naming the folder, the limit and the largest entries."""
        write(app.parent / "data" / "a.bin", os.urandom(40_000))
        write(app.parent / "data" / "b.bin", os.urandom(40_000))
        write(app.parent / "weights.ckpt", os.urandom(50_000))
        with pytest.raises(BundleTooLargeError) as caught:
            build_bundle(app, max_bytes=64 * 1024)
        error = caught.value
        message = str(error)
        assert str(app.parent) in message
        assert "64.0 KiB" in message
        assert ".lightningignore" in message
        assert "data/ (78.1 KiB)" in message and "weights.ckpt (48.8 KiB)" in message
        assert [path for path, _ in error.largest][:2] == ["data/", "weights.ckpt"]
        assert error.limit == 64 * 1024 and error.size > error.limit
        assert isinstance(error, LightningError)

    def test_stops_early_on_a_huge_file(self, app: Path) -> None:
        """The build stops near the limit instead of compressing a whole large file first."""
        write(app.parent / "huge.bin", os.urandom(8 * 2**20))
        with pytest.raises(BundleTooLargeError) as caught:
            build_bundle(app, max_bytes=32 * 1024)
        assert caught.value.size < 32 * 1024 + 2**20

    def test_under_the_limit_is_fine(self, app: Path) -> None:
        """A folder that fits is bundled within the limit."""
        write(app.parent / "data.bin", os.urandom(10_000))
        bundle = build_bundle(app, max_bytes=64 * 1024)
        assert len(bundle.data) <= 64 * 1024

    def test_files_past_the_unpacked_limit_are_refused_at_build(self, app: Path) -> None:
        """Files that compress well but hold more than max_unpacked_bytes are refused before compressing, with the
        unpacked limit named (agents would refuse the bundle)."""
        write(app.parent / "zeros.bin", bytes(3 * 2**20))
        with pytest.raises(BundleTooLargeError, match=r"its files hold 3\.0 MiB, over the unpacked limit of 1\.0 MiB"):
            build_bundle(app, max_unpacked_bytes=2**20)

    def test_too_many_files_are_refused_at_build(self, app: Path) -> None:
        """A folder with more entries than max_entries is refused, naming the count and the limit."""
        for index in range(12):
            write(app.parent / f"m{index}.py", b"")
        with pytest.raises(BundleTooLargeError, match=r"holds \d+ files and folders, over the limit of 10"):
            build_bundle(app, max_entries=10)

    def test_error_survives_pickling(self, app: Path) -> None:
        """The error keeps its context through pickling."""
        write(app.parent / "x.bin", os.urandom(20_000))
        with pytest.raises(BundleTooLargeError) as caught:
            build_bundle(app, max_bytes=4096)
        copy = pickle.loads(pickle.dumps(caught.value))
        assert (copy.limit, copy.largest, str(copy)) == (4096, caught.value.largest, str(caught.value))


class TestChunks:
    def test_chunks_join_back(self) -> None:
        """Chunks are at most chunk_bytes long and join back into the data."""
        data = os.urandom(10_000)
        chunks = list(iter_chunks(data, 4096))
        assert [len(chunk) for chunk in chunks] == [4096, 4096, 1808]
        assert b"".join(chunks) == data

    def test_default_chunk_is_one_mib(self) -> None:
        """By default chunks are 1 MiB."""
        assert [len(chunk) for chunk in iter_chunks(b"x" * (2**20 + 1))] == [2**20, 1]

    def test_empty_data_has_no_chunks(self) -> None:
        """Empty data yields no chunk."""
        assert list(iter_chunks(b"")) == []

    def test_chunk_size_must_be_positive(self) -> None:
        """A non-positive chunk size is refused."""
        with pytest.raises(ValueError, match="positive"):
            list(iter_chunks(b"abc", 0))
