"""The one shrinking core: runs removed down to single items, every kind at once, only ever simpler."""

from __future__ import annotations

from oracle.common.shrink import Reducer, ddmin


def test_ddmin_finds_the_two_items_that_fail_together() -> None:
    items = list(range(40))
    calls = []

    def fails(candidate: list[int]) -> bool:
        calls.append(len(candidate))
        return 7 in candidate and 31 in candidate

    assert ddmin(items, fails) == [7, 31]
    assert len(calls) < 200


def test_the_result_is_one_minimal() -> None:
    def fails(candidate: list[int]) -> bool:
        return sum(candidate) >= 10 and len(candidate) >= 2

    result = ddmin(list(range(1, 12)), fails)
    assert fails(result)
    for i in range(len(result)):
        assert not fails(result[:i] + result[i + 1 :]), "removing any one item must make it pass"


def test_a_sequence_that_does_not_fail_is_returned_unchanged() -> None:
    assert ddmin([1, 2, 3], lambda c: False) == [1, 2, 3]


def test_the_test_may_trim_and_only_simpler_is_kept() -> None:
    seen: list[list[int]] = []

    def test(candidate: list[int], prefix: int) -> list[int] | None:
        seen.append(candidate)
        # Fails once 5 is in it; "trims" the candidate after 5, like a trace cut after its failing line.
        return candidate[: candidate.index(5) + 1] if 5 in candidate else None

    reducer = Reducer(list(range(10)), test)
    assert reducer.reduce([Reducer.remove_runs]) == [5]
    assert reducer.tried == len(seen)


def test_remove_where_and_replace_each() -> None:
    def test(candidate: list[str], prefix: int) -> list[str] | None:
        return candidate if any(s.endswith("3") for s in candidate) else None

    reducer = Reducer(["a1", "x9", "b2", "x3", "c1"], test, simpler=lambda new, old: (len(new), new) < (len(old), old))
    assert reducer.remove_where([lambda s: s == "x3"]) is False  # it would no longer fail
    assert reducer.remove_where([lambda s: s.startswith("x") and s != "x3"])
    assert reducer.items == ["a1", "b2", "x3", "c1"]
    assert reducer.replace_each(lambda s: [s[0] + "0"] if s != "x3" else ["z3", "a3"])
    assert reducer.items == ["a0", "b0", "a3", "c0"]  # "z3" is not simpler than "x3"; "a3" is


def test_the_deadline_stops_it_with_a_failing_result() -> None:
    def fails(candidate: list[int]) -> bool:
        return 3 in candidate

    assert ddmin(list(range(1000)), fails, seconds=0.0) == list(range(1000))
