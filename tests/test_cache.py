"""labkit.cache: where computed-once artefacts go; never into a read-only data folder."""
from pathlib import Path

from labkit import cache


def test_cache_env_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_CACHE", str(tmp_path / "c"))
    assert cache.cache_dir() == (tmp_path / "c").resolve() and (tmp_path / "c").is_dir()


def test_writable_data_folder_holds_the_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("LABKIT_CACHE", raising=False)
    monkeypatch.setenv("LABKIT_DATA", str(tmp_path / "data"))
    (tmp_path / "data").mkdir()
    assert cache.cache_dir() == (tmp_path / "data" / "cache").resolve()


def test_read_only_data_folder_is_never_written_even_by_root(tmp_path, monkeypatch):
    """Like the course's shared data (r-x for everyone): the cache goes to the home folder."""
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o555)
    monkeypatch.delenv("LABKIT_CACHE", raising=False)
    monkeypatch.setenv("LABKIT_DATA", str(data))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    try:
        assert cache.cache_dir() == Path(tmp_path / "home" / ".cache" / "labkit")
        assert not (data / "cache").exists()
    finally:
        data.chmod(0o755)
