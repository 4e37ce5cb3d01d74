"""labkit.plumbing: atomic writes, file hashes, one-line errors."""
from __future__ import annotations

import os

import numpy as np
import pytest

from labkit.plumbing import atomic_path, atomic_write, file_hash, short_error


def test_atomic_write_replaces_whole_files_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    assert atomic_write(target, "中文\n") == target and target.read_text(encoding="utf-8") == "中文\n"
    atomic_write(target, b"bytes")
    assert target.read_bytes() == b"bytes" and oct(target.stat().st_mode & 0o777) == "0o644"
    assert os.listdir(target.parent) == ["out.txt"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "keep.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["keep.txt"]
    with pytest.raises(FileNotFoundError, match="nothing was written"):
        with atomic_path(target) as tmp:
            tmp.unlink()
    assert target.read_text() == "old"


def test_the_temporary_name_keeps_the_suffix_for_writers_that_add_one(tmp_path):
    with atomic_path(tmp_path / "arrays.npz") as tmp:
        np.savez(tmp, a=np.arange(3))  # savez appends .npz to a name without it
    assert os.listdir(tmp_path) == ["arrays.npz"]
    with np.load(tmp_path / "arrays.npz") as z:
        assert z["a"].tolist() == [0, 1, 2]


def test_file_hash(tmp_path):
    f = tmp_path / "x"
    f.write_bytes(b"abc")
    assert file_hash(f) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert file_hash(f, "md5") == "900150983cd24fb0d6963f7d28e17f72"
    assert file_hash(f, chunk=1) == file_hash(f)


def test_short_error_is_one_line_and_bounded():
    assert short_error(ValueError("bad\n  value")) == "ValueError: bad value"
    assert short_error(KeyboardInterrupt()) == "KeyboardInterrupt"
    cut = short_error(RuntimeError("x" * 500), limit=40)
    assert len(cut) == 40 and cut.endswith("…")
