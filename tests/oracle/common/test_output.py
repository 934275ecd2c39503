"""Output files never replace an input, are checked before any work, and are written whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from oracle.common.errors import UsageError
from oracle.common.output import OutputFile, new_file, output_folder


def test_the_input_itself_or_a_link_to_it_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "trace.jsonl"
    source.write_text("evidence\n")
    link = tmp_path / "link.jsonl"
    link.symlink_to(source)
    for out in (source, link, tmp_path / "." / "trace.jsonl"):
        with pytest.raises(UsageError, match="is the input"):
            OutputFile(out, [source])
    assert source.read_text() == "evidence\n"


def test_bad_locations_are_refused_up_front(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="is a directory"):
        OutputFile(tmp_path, [])
    with pytest.raises(UsageError, match="does not exist"):
        OutputFile(tmp_path / "missing" / "out.jsonl", [])
    with pytest.raises(UsageError, match="bytes free"):
        OutputFile(tmp_path / "out.jsonl", [], expected_bytes=1 << 62)


def test_written_atomically(tmp_path: Path) -> None:
    out = OutputFile(tmp_path / "out.jsonl", [])
    out.write_text("new\n")
    assert (tmp_path / "out.jsonl").read_text() == "new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]  # no temporary file left behind


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_an_unwritable_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    with pytest.raises(UsageError, match="not writable"):
        OutputFile(folder / "out.jsonl", [])


def test_folders(tmp_path: Path) -> None:
    afile = tmp_path / "f"
    afile.write_text("x")
    with pytest.raises(UsageError, match="not a directory"):
        output_folder(afile)
    made = output_folder(tmp_path / "a" / "b")
    assert made.is_dir()
    first = new_file(made, "t")
    first.write_text("")
    assert new_file(made, "t").name == "t-2.jsonl"
