"""Tests for agent.bundles: fetching code bundles once, verifying them, unpacking them safely."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import pickle
import tarfile
from pathlib import Path
from typing import AsyncIterator

import pytest

from lightning_ctl.agent.bundles import BundleCache, BundleError, UnpackLimits


def make_tar(files: dict[str, bytes], *, links: dict[str, str] | None = None) -> bytes:
    """A gzip'd tar holding ``files`` (name to content) and symlinks ``links`` (name to target)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return buffer.getvalue()


def digest_of(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


class Source:
    """A fake control plane serving one bundle in chunks, counting fetches and chunks sent."""

    def __init__(self, data: bytes, chunk: int = 64) -> None:
        self.data = data
        self.chunk = chunk
        self.calls: list[str] = []
        self.sent = 0
        self.closed = False

    async def fetch(self, digest: str) -> AsyncIterator[bytes]:
        """Yield the bundle in chunks, letting other tasks run between them."""
        self.calls.append(digest)
        try:
            for start in range(0, len(self.data), self.chunk):
                await asyncio.sleep(0)
                self.sent += 1
                yield self.data[start : start + self.chunk]
        finally:
            self.closed = True


BUNDLE = make_tar({"app.py": b"print('hi')\n", "pkg/mod.py": b"X = 1\n"})
DIGEST = digest_of(BUNDLE)


def leftovers(root: Path) -> list[str]:
    """Everything in the cache root (nothing when it was never created)."""
    return sorted(path.name for path in root.iterdir()) if root.exists() else []


class TestEnsure:
    def test_fetches_verifies_and_unpacks(self, tmp_path: Path) -> None:
        """ensure() returns <root>/<digest> holding the bundle's files, and only that is left."""
        cache = BundleCache(tmp_path / "cache")
        source = Source(BUNDLE)
        folder = asyncio.run(cache.ensure(DIGEST, source.fetch))
        assert folder == tmp_path / "cache" / DIGEST
        assert (folder / "pkg" / "mod.py").read_bytes() == b"X = 1\n"
        assert leftovers(tmp_path / "cache") == [DIGEST]
        assert cache.is_cached(DIGEST) and cache.path_for(DIGEST) == folder
        assert source.calls == [DIGEST]

    def test_concurrent_callers_share_one_fetch(self, tmp_path: Path) -> None:
        """Five concurrent ensure() calls for one digest fetch it once and get the same folder."""
        cache = BundleCache(tmp_path)
        source = Source(BUNDLE)

        async def main() -> list[Path]:
            return await asyncio.gather(*(cache.ensure(DIGEST, source.fetch) for _ in range(5)))

        folders = asyncio.run(main())
        assert len(set(folders)) == 1
        assert len(source.calls) == 1
        assert (cache.fetches, cache.hits) == (1, 4)

    def test_second_call_is_a_hit(self, tmp_path: Path) -> None:
        """Once unpacked, a bundle is served from the cache without fetching, and counted as a hit."""
        cache = BundleCache(tmp_path)
        source = Source(BUNDLE)

        async def main() -> tuple[Path, Path]:
            return await cache.ensure(DIGEST, source.fetch), await cache.ensure(DIGEST, source.fetch)

        first, second = asyncio.run(main())
        assert first == second
        assert len(source.calls) == 1
        assert (cache.fetches, cache.hits) == (1, 1)

    def test_new_cache_on_same_root_reuses_the_folder(self, tmp_path: Path) -> None:
        """A restarted agent (new cache object, same root) finds the bundle without fetching."""
        asyncio.run(BundleCache(tmp_path).ensure(DIGEST, Source(BUNDLE).fetch))
        cache = BundleCache(tmp_path)
        source = Source(BUNDLE)
        asyncio.run(cache.ensure(DIGEST, source.fetch))
        assert source.calls == [] and cache.hits == 1

    def test_not_cached_before_fetch(self, tmp_path: Path) -> None:
        """Before any fetch the bundle is not cached and the root is not created."""
        cache = BundleCache(tmp_path / "cache")
        assert cache.path_for(DIGEST) is None and not cache.is_cached(DIGEST)
        assert not (tmp_path / "cache").exists()

    def test_cancelled_caller_does_not_cancel_the_shared_fetch(self, tmp_path: Path) -> None:
        """Cancelling the first caller leaves the download running for the others."""
        cache = BundleCache(tmp_path)
        source = Source(BUNDLE, chunk=16)

        async def main() -> Path:
            first = asyncio.ensure_future(cache.ensure(DIGEST, source.fetch))
            second = asyncio.ensure_future(cache.ensure(DIGEST, source.fetch))
            await asyncio.sleep(0)
            first.cancel()
            return await second

        assert (asyncio.run(main()) / "app.py").is_file()
        assert len(source.calls) == 1

    def test_another_process_won_the_rename(self, tmp_path: Path) -> None:
        """If the folder appears while unpacking (another process sharing the root), theirs is kept."""
        cache = BundleCache(tmp_path)

        async def racing_fetch(digest: str) -> AsyncIterator[bytes]:
            yield BUNDLE
            (tmp_path / digest).mkdir()
            (tmp_path / digest / "theirs").write_text("")

        folder = asyncio.run(cache.ensure(DIGEST, racing_fetch))
        assert (folder / "theirs").exists() and not (folder / "app.py").exists()
        assert leftovers(tmp_path) == [DIGEST]


class TestFailures:
    def test_digest_mismatch_raises_and_leaves_nothing(self, tmp_path: Path) -> None:
        """Bytes that do not hash to the digest raise BundleError naming it; nothing is left behind."""
        cache = BundleCache(tmp_path / "cache")
        wrong = make_tar({"app.py": b"evil\n"})
        with pytest.raises(BundleError, match=DIGEST) as caught:
            asyncio.run(cache.ensure(DIGEST, Source(wrong).fetch))
        assert digest_of(wrong) in str(caught.value)
        assert caught.value.digest == DIGEST
        assert leftovers(tmp_path / "cache") == []
        assert not cache.is_cached(DIGEST)

    def test_size_limit_stops_the_stream(self, tmp_path: Path) -> None:
        """Passing max_bytes while streaming raises, stops the fetch early and leaves nothing behind."""
        cache = BundleCache(tmp_path)
        big = make_tar({"blob": bytes(range(256)) * 400})
        source = Source(big, chunk=100)
        with pytest.raises(BundleError, match="limit of 300 bytes"):
            asyncio.run(cache.ensure(digest_of(big), source.fetch, max_bytes=300))
        assert source.sent == 4 and source.closed
        assert leftovers(tmp_path) == []

    def test_small_archive_unpacking_past_the_limit_is_refused(self, tmp_path: Path) -> None:
        """A few KiB of gzip that would unpack to 4 MiB is refused against a 1 MiB unpack limit, naming it; no
        file of it is left."""
        bomb = make_tar({"zeros": bytes(4 * 2**20)})
        assert len(bomb) < 64 * 1024
        cache = BundleCache(tmp_path, UnpackLimits(max_bytes=2**20))
        with pytest.raises(BundleError, match=f"more than {2**20} bytes once unpacked"):
            asyncio.run(cache.ensure(digest_of(bomb), Source(bomb).fetch))
        assert leftovers(tmp_path) == []

    def test_header_announcing_2_GiB_is_refused_before_writing(self, tmp_path: Path) -> None:
        """With the default limits (1 GiB), an entry announcing 2 GiB is refused from its header alone."""
        header = tarfile.TarInfo("huge")
        header.size = 2 * 2**30
        buffer = io.BytesIO()
        with gzip.GzipFile(fileobj=buffer, mode="wb") as compressed:
            compressed.write(header.tobuf(format=tarfile.GNU_FORMAT) + bytes(1024))
        data = buffer.getvalue()
        with pytest.raises(BundleError, match="once unpacked"):
            asyncio.run(BundleCache(tmp_path).ensure(digest_of(data), Source(data).fetch))
        assert leftovers(tmp_path) == []

    def test_too_many_entries_are_refused(self, tmp_path: Path) -> None:
        """A bundle with more entries than the limit is refused, naming the limit."""
        many = make_tar({f"f{i}.py": b"x" for i in range(11)})
        cache = BundleCache(tmp_path, UnpackLimits(max_entries=10))
        with pytest.raises(BundleError, match="more than 10 files and folders"):
            asyncio.run(cache.ensure(digest_of(many), Source(many).fetch))
        assert leftovers(tmp_path) == []

    def test_fetch_failure_is_wrapped_and_retried_next_time(self, tmp_path: Path) -> None:
        """A failing fetch raises BundleError for every waiter; the next call fetches again."""
        cache = BundleCache(tmp_path)

        async def broken(digest: str) -> AsyncIterator[bytes]:
            yield BUNDLE[:10]
            raise ConnectionError("stream reset")

        async def main() -> list[object]:
            calls = (cache.ensure(DIGEST, broken) for _ in range(3))
            return await asyncio.gather(*calls, return_exceptions=True)

        results = asyncio.run(main())
        assert all(isinstance(result, BundleError) and "stream reset" in str(result) for result in results)
        assert leftovers(tmp_path) == []
        asyncio.run(cache.ensure(DIGEST, Source(BUNDLE).fetch))
        assert cache.fetches == 2

    @pytest.mark.parametrize(
        "name",
        ["../escaped.txt", "/tmp/absolute-lightning-test.txt", "pkg/../../escaped.txt"],
    )
    def test_path_traversal_member_rejected(self, tmp_path: Path, name: str) -> None:
        """A member escaping the folder (.., absolute path) is refused and nothing is unpacked."""
        root = tmp_path / "cache"
        evil = make_tar({"app.py": b"", name: b"owned"})
        with pytest.raises(BundleError, match="cannot unpack"):
            asyncio.run(BundleCache(root).ensure(digest_of(evil), Source(evil).fetch))
        assert leftovers(root) == []
        assert not (tmp_path / "escaped.txt").exists()
        assert not Path("/tmp/absolute-lightning-test.txt").exists()

    def test_link_outside_rejected(self, tmp_path: Path) -> None:
        """A symlink member pointing outside the folder is refused."""
        evil = make_tar({"app.py": b""}, links={"passwd": "/etc/passwd"})
        with pytest.raises(BundleError, match="cannot unpack"):
            asyncio.run(BundleCache(tmp_path).ensure(digest_of(evil), Source(evil).fetch))
        assert leftovers(tmp_path) == []

    def test_not_a_tar_rejected(self, tmp_path: Path) -> None:
        """Bytes that match their digest but are not a gzip'd tar raise BundleError."""
        junk = b"not a tarball at all"
        with pytest.raises(BundleError, match="cannot unpack"):
            asyncio.run(BundleCache(tmp_path).ensure(digest_of(junk), Source(junk).fetch))
        assert leftovers(tmp_path) == []

    @pytest.mark.parametrize(
        "digest",
        ["", "abc", "../" + "a" * 61, DIGEST.upper(), DIGEST + "0", "g" * 64, DIGEST[:63] + "/", None],
    )
    def test_invalid_digest_rejected(self, tmp_path: Path, digest: object) -> None:
        """Anything but 64 lowercase hex characters is refused before any fetch or path."""
        cache = BundleCache(tmp_path / "cache")
        source = Source(BUNDLE)
        with pytest.raises(BundleError, match="invalid code bundle digest"):
            asyncio.run(cache.ensure(digest, source.fetch))  # type: ignore[arg-type]
        with pytest.raises(BundleError):
            cache.path_for(digest)  # type: ignore[arg-type]
        assert source.calls == [] and not (tmp_path / "cache").exists()

    def test_error_pickles(self) -> None:
        """BundleError keeps its message and digest through pickling."""
        error = pickle.loads(pickle.dumps(BundleError("code bundle x: bad", digest="x")))
        assert (str(error), error.digest) == ("code bundle x: bad", "x")
