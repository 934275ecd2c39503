"""oracle.common.machine: a machine's failure comes back as its exception, Hypothesis's report swallowed."""

from __future__ import annotations

import pytest

from oracle.common.machine import run_quietly


class Found(AssertionError):
    pass


def test_the_failure_comes_back_and_nothing_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    def failing() -> None:
        print("Falsifying example: ...")
        raise Found("the trace")

    failure = run_quietly(failing, Found)
    assert isinstance(failure, Found) and str(failure) == "the trace"
    assert capsys.readouterr().out == ""
    assert run_quietly(lambda: None, Found) is None


def test_any_other_exception_is_a_bug_of_the_harness() -> None:
    def broken() -> None:
        raise KeyError("x")

    with pytest.raises(KeyError):
        run_quietly(broken, Found)
