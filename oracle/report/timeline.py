"""A campaign's progress over time: samples of (seconds, ops, distinct states), saved and drawn.

Campaigns record a Timeline while they run (oracle.pagealloc.fuzz samples
it with its live display; the go campaign's progress callback does the
same) and save it beside each failing trace as `<trace>.progress.json`,
where `python -m oracle report` finds it and draws it (`svg`).

Fields: `samples` is a list of Sample in time order (seconds since the
start, never decreasing); `states` is the count of distinct states seen so
far, or None when the campaign does not count them. What a "state" is
belongs to the campaign and is named in `states_label`.

StateCounter is the page-allocator campaigns' notion: the set of pages in
use and chunks grown, as the answers show them, hashed incrementally
(Zobrist style: each page in use and each grown chunk XORs its own 64-bit
mix into the fingerprint, so an operation costs what it touches). Distinct
fingerprints are distinct heap occupancies (scavenged bits are left out).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs

MASK64 = (1 << 64) - 1
PLOT_WIDTH, PLOT_HEIGHT = 640, 220


@attrs.frozen
class Sample:
    seconds: float
    ops: int
    states: int | None = None


@attrs.define
class Timeline:
    ops_label: str = "ops"
    states_label: str = "distinct states"
    samples: list[Sample] = attrs.Factory(list)

    def add(self, seconds: float, ops: int, states: int | None = None) -> None:
        if self.samples and seconds < self.samples[-1].seconds:
            seconds = self.samples[-1].seconds
        self.samples.append(Sample(round(seconds, 3), ops, states))

    def to_json(self) -> dict[str, Any]:
        return {
            "ops_label": self.ops_label,
            "states_label": self.states_label,
            "samples": [[s.seconds, s.ops, s.states] for s in self.samples],
        }

    @staticmethod
    def from_json(obj: dict[str, Any]) -> Timeline:
        samples = [Sample(float(t), int(o), None if s is None else int(s)) for t, o, s in obj["samples"]]
        return Timeline(str(obj.get("ops_label", "ops")), str(obj.get("states_label", "distinct states")), samples)

    def save_beside(self, trace: Path) -> Path:
        path = progress_path(trace)
        path.write_text(json.dumps(self.to_json()) + "\n", encoding="utf-8")
        return path


def progress_path(trace: Path) -> Path:
    return trace.with_name(trace.stem + ".progress.json")


def load_beside(trace: Path) -> Timeline | None:
    """The timeline saved beside a trace, or None (missing or unreadable: a report is drawn without it)."""
    path = progress_path(trace)
    try:
        return Timeline.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _mix(value: int) -> int:
    """A 64-bit mix of an integer (splitmix64's finalizer)."""
    z = (value + 0x9E3779B97F4A7C15) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


class StateCounter:
    """Distinct heap occupancies seen, from operations and their answers (see the module comment)."""

    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.fresh: list[int] = []  # fingerprints seen for the first time, not yet collected by take_fresh
        self.fingerprint = 0
        self.caches: dict[int, tuple[int, int]] = {}  # id -> (base, free mask) as the answers show

    def start(self) -> None:
        """A new test case: an empty heap."""
        self.fingerprint = 0
        self.caches = {}

    def _pages(self, page: int, npages: int) -> None:
        for p in range(page, page + npages):
            self.fingerprint ^= _mix(p)

    def step(self, kind: str, args: dict[str, Any], answer: Any) -> None:
        """Account for one operation the implementation accepted, with its answer."""
        if kind == "grow":
            for c in range(args["chunk"], args["chunk"] + args["nchunks"]):
                self.fingerprint ^= _mix(-1 - c)
        elif kind == "alloc" and isinstance(answer, dict) and answer.get("page") is not None:
            self._pages(answer["page"], args["npages"])
        elif kind in ("free", "pad"):
            self._pages(args["page"], args["npages"])
        elif kind == "cache_fill" and isinstance(answer, dict) and answer.get("base") is not None:
            base, free = answer["base"], answer["free"]
            self.caches[args["cache"]] = (base, free)
            for i in range(64):
                if free >> i & 1:
                    self.fingerprint ^= _mix(base + i)
        elif kind == "cache_alloc" and isinstance(answer, dict) and answer.get("page") is not None:
            base, free = self.caches.get(args["cache"], (0, 0))
            taken = ((1 << args["npages"]) - 1) << (answer["page"] - base) if answer["page"] >= base else 0
            self.caches[args["cache"]] = (base, free & ~taken)
        elif kind == "cache_flush":
            base, free = self.caches.pop(args["cache"], (0, 0))
            for i in range(64):
                if free >> i & 1:
                    self.fingerprint ^= _mix(base + i)
        else:
            return
        self.note(self.fingerprint)

    def note(self, fingerprint: int) -> None:
        if fingerprint not in self.seen:
            self.seen.add(fingerprint)
            self.fresh.append(fingerprint)

    def take_fresh(self) -> list[int]:
        out, self.fresh = self.fresh, []
        return out

    def __len__(self) -> int:
        return len(self.seen)


def _ticks(top: float) -> list[float]:
    """About four round tick values from 0 to top."""
    if top <= 0:
        return [0.0]
    step = 10 ** max(len(str(int(top))) - 1, 0)
    while top / step > 5:
        step *= 2
    return [k * step for k in range(int(top // step) + 1)]


def svg(timeline: Timeline) -> str:
    """The timeline as an inline SVG: ops (solid) and distinct states (dashed, own scale) against seconds."""
    samples = timeline.samples
    if len(samples) < 2:
        return ""
    left, right, top, bottom = 60, 70, 12, 34
    width, height = PLOT_WIDTH - left - right, PLOT_HEIGHT - top - bottom
    t_max = max(samples[-1].seconds, 1e-9)
    ops_max = max(max(s.ops for s in samples), 1)
    counted = [s.states for s in samples if s.states is not None]
    states_max = max(max(counted, default=1), 1)

    def x(t: float) -> float:
        return left + width * t / t_max

    def y(v: float, peak: float) -> float:
        return top + height * (1 - v / peak)

    parts = [
        f'<svg class="plot" xmlns="http://www.w3.org/2000/svg" width="{PLOT_WIDTH}" height="{PLOT_HEIGHT}" '
        f'viewBox="0 0 {PLOT_WIDTH} {PLOT_HEIGHT}" role="img" aria-label="campaign progress">',
        f'<rect x="{left}" y="{top}" width="{width}" height="{height}" fill="#fbfbfb" stroke="#ccc"/>',
    ]
    for t in _ticks(t_max):
        parts.append(f'<text x="{x(t):.1f}" y="{top + height + 14}" text-anchor="middle" class="tick">{t:g}</text>')
    for v in _ticks(ops_max):
        parts.append(f'<text x="{left - 6}" y="{y(v, ops_max) + 4:.1f}" text-anchor="end" class="tick">{v:,.0f}</text>')
    parts.append(f'<text x="{left + width / 2}" y="{PLOT_HEIGHT - 4}" text-anchor="middle" class="axis">seconds</text>')
    ops_points = " ".join(f"{x(s.seconds):.1f},{y(s.ops, ops_max):.1f}" for s in samples)
    parts.append(f'<polyline points="{ops_points}" fill="none" stroke="#1f5fa8" stroke-width="2"/>')
    parts.append(f'<text x="{left + 6}" y="{top + 14}" class="legend" fill="#1f5fa8">{timeline.ops_label} '
                 f"(left scale)</text>")
    if counted:
        for v in _ticks(states_max):
            parts.append(f'<text x="{left + width + 6}" y="{y(v, states_max) + 4:.1f}" class="tick">{v:,.0f}</text>')
        state_points = " ".join(
            f"{x(s.seconds):.1f},{y(s.states, states_max):.1f}" for s in samples if s.states is not None
        )
        parts.append(f'<polyline points="{state_points}" fill="none" stroke="#c0392b" stroke-width="2" '
                     'stroke-dasharray="6 3"/>')
        parts.append(f'<text x="{left + 6}" y="{top + 30}" class="legend" fill="#c0392b">{timeline.states_label} '
                     "(right scale)</text>")
    parts.append("</svg>")
    return "\n".join(parts)
