"""oracle/gc/sizegen.py: the table it writes is the committed one; it finds Go as every command does."""

from __future__ import annotations

from pathlib import Path

import pytest

from model.gc import sizeclasses
from oracle.gc import sizegen


def test_the_table_path_is_the_models() -> None:
    assert sizegen.TABLE_PATH == Path(sizeclasses.__file__).resolve()


@pytest.mark.go
def test_rendering_the_installed_table_gives_the_committed_file(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert sizegen.render(sizegen.parse_installed()) == sizegen.TABLE_PATH.read_text()
    out = tmp_path / "sizeclasses.py"
    assert sizegen.main(["--out", str(out)]) == 0
    assert out.read_text() == sizegen.TABLE_PATH.read_text()
    assert sizegen.main(["--check"]) == 0
    assert "matches" in capsys.readouterr().out


def test_no_go_tree_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert sizegen.main(["--check", "--goroot", str(tmp_path / "none")]) == 2
    out = capsys.readouterr()
    assert out.out == "" and out.err.startswith("sizegen: --goroot ") and out.err.count("\n") == 1


def test_a_file_of_another_shape_is_refused() -> None:
    with pytest.raises(sizegen.SizeClassParseError, match="constant NumSizeClasses not found"):
        sizegen.parse("package gc\n")
