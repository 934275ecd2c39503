"""The failure report as one self-contained HTML page: `render(evidence, timeline)` and `write_report`.

The page has no external resource (styles inline, the plot an inline SVG,
no script), so it can be mailed, attached to a bug, or opened offline.
Sections, top to bottom:

  #failure   the failing line, expected and got, as replay prints them; how
             the states differ; the command that reproduces it
  #trace     the trace, one row per line; the failing row is
             `tr#failing-line.failing`, rows after it `.notrun`
  #heap      the heap after the failing line, one grid per side
             (`#side-left`: the model, or at the safe level what the
             answers made certain; `#side-right`: the implementation): a
             row per chunk (`.chunk[data-chunk]`), a cell per page
             (`.p[data-page]`) coloured by its kind (oracle.report.heapmap),
             outlined where the model's answer (`.exp`) and the
             implementation's (`.got`) lie, `.diff` where the two sides'
             kinds differ (or, at the safe level, a page handed out while
             in use), and markers for the search hint (`.hint`) and the
             scavenge cursors (`.fcur`, `.bcur`). Each mark keeps to its
             own part of a cell: `.exp` and `.got` are 2-pixel insets (4
             where both), `.diff` colours the top-left half, `.hint` is a
             triangle in the bottom-right corner, `.fcur` a bar along the
             bottom, `.bcur` one along the top
  #tree      the summaries (start, max, end) at each tree level along the
             path to the model's page and to the implementation's
  #hidden    search hint and scavenge cursors, side by side
  #progress  the campaign's ops and distinct states over time, when the
             campaign saved them (oracle.report.timeline)

Cells are CELL pixels wide with a 1-pixel gap, COLUMNS to a row, so page
p of a chunk sits in row (p mod chunk_pages) div COLUMNS, column p mod
COLUMNS of its chunk's grid; the browser test checks that geometry.
"""

from __future__ import annotations

import html
import shlex
from pathlib import Path
from typing import Any

from oracle.common.output import OutputFile
from oracle.pagealloc.protocol import make_geometry
from oracle.pagealloc.registry import ImplOptions
from oracle.report import heapmap
from oracle.report.evidence import Evidence, Side, gather
from oracle.report.timeline import Timeline, load_beside, svg

CELL = 9
COLUMNS = 64
TRACE_HEAD, TRACE_BEFORE, TRACE_AFTER = 20, 200, 20  # rows of a long trace shown around the failing line

KIND_TEXT = {
    "none": "not grown",
    "used": "in use",
    "padding": "padding (in use, scavenged)",
    "free": "free",
    "scav": "free, scavenged",
    "cache": "held by a page cache",
}

STYLE = f"""
body {{ font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 16px 24px; color: #1d1d1f;
       background: #fff; }}
h1 {{ font-size: 21px; margin: 0 0 4px; }} h2 {{ font-size: 17px; margin: 22px 0 8px; }}
h3 {{ font-size: 15px; margin: 4px 0; }}
code, pre, .trace td {{ font-family: ui-monospace, "DejaVu Sans Mono", Menlo, monospace; font-size: 12.5px; }}
.verdict {{ color: #444; margin: 0; }}
pre.message {{ background: #fff4f4; border-left: 4px solid #d1242f; padding: 8px 12px; margin: 0;
              white-space: pre-wrap; }}
pre.message.ok {{ background: #f2fbf4; border-left-color: #1a7f37; }}
ul.diffs {{ margin: 6px 0; }}
table.trace {{ border-collapse: collapse; width: 100%; max-width: 1460px; }}
.trace td {{ padding: 1px 8px; white-space: pre; vertical-align: top; }}
.trace td.num {{ color: #888; text-align: right; width: 3.5em; user-select: none; }}
.trace tr.failing {{ background: #ffd7d5; }}
.trace tr.failing td.num {{ color: #a40e26; font-weight: 700; border-left: 5px solid #d1242f; }}
.trace td.mark {{ color: #a40e26; font-weight: 700; width: 9em; }}
.trace tr.notrun td {{ color: #9a9a9a; }}
.trace tr.gap td {{ color: #888; font-style: italic; }}
.sides {{ display: flex; flex-wrap: wrap; gap: 24px; }}
.side {{ flex: 0 0 auto; }}
.source {{ color: #555; font-size: 12.5px; max-width: {COLUMNS * (CELL + 1)}px; margin: 0 0 6px; }}
.chunk {{ margin: 0 0 8px; }}
.chunk-label {{ font-size: 12px; color: #555; }}
.grid {{ display: grid; grid-template-columns: repeat({COLUMNS}, {CELL}px); grid-auto-rows: {CELL}px; gap: 1px;
        width: {COLUMNS * (CELL + 1) - 1}px; }}
.p {{ position: relative; display: block; }}
.none {{ background: #fff; box-shadow: inset 0 0 0 1px #e2e2e2; }}
.used {{ background: #3b6fb6; }}
.padding {{ background: #7d7d7d; }}
.free {{ background: #e4e6ea; }}
.scav {{ background: #a6dcb5; }}
.cache {{ background: #f0b429; }}
.exp {{ box-shadow: inset 0 0 0 2px #16803c; }}
.got {{ box-shadow: inset 0 0 0 2px #111; }}
.exp.got {{ box-shadow: inset 0 0 0 2px #16803c, inset 0 0 0 4px #111; }}
.diff {{ background-image: linear-gradient(135deg, #e6007e 0 60%, transparent 60%); }}
.hint::after, .fcur::after, .bcur::before {{ content: ""; position: absolute; }}
.hint::after {{ right: 0; bottom: 0; width: 0; height: 0; border-left: 5px solid transparent;
               border-bottom: 5px solid #000; }}
.fcur::after {{ left: 0; bottom: -1px; width: {CELL}px; height: 3px; background: #d35400; }}
.bcur::before {{ left: 0; top: -1px; width: {CELL}px; height: 3px; background: #8e44ad; }}
.legend {{ display: flex; flex-wrap: wrap; gap: 6px 16px; margin: 4px 0 10px; font-size: 12.5px; }}
.legend span {{ display: inline-flex; align-items: center; gap: 5px; }}
.legend .p {{ width: {CELL}px; height: {CELL}px; display: inline-block; }}
table.level {{ border-collapse: collapse; margin: 0 0 10px; font-size: 12px; }}
.level th, .level td {{ border: 1px solid #ddd; padding: 2px 6px; text-align: center; white-space: nowrap; }}
.level th.row {{ text-align: left; background: #f6f6f6; }}
.level td.lp {{ border-top: 3px solid #16803c; }}
.level td.rp {{ border-bottom: 3px solid #111; }}
.level td.d {{ background: #ffe0f0; color: #8a0048; font-weight: 600; }}
table.hidden {{ border-collapse: collapse; }}
.hidden td, .hidden th {{ border: 1px solid #ddd; padding: 3px 10px; }}
.hidden td.d {{ background: #ffe0f0; }}
svg.plot .tick {{ font-size: 11px; fill: #555; }} svg.plot .axis, svg.plot .legend {{ font-size: 12px; }}
footer {{ margin-top: 28px; color: #888; font-size: 12px; }}
"""


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def reproduce_command(evidence: Evidence, options: ImplOptions | None) -> str:
    options = options or ImplOptions()
    extra = f" --cmd {shlex.quote(options.cmd)}" if options.cmd and evidence.impl == "subprocess" else ""
    extra += "".join(f" --fault {f}" for f in sorted(options.faults))
    if options.mutation is not None:
        extra += f" --mutant {options.mutation.name}"
    if options.goroot:
        extra += f" --goroot {shlex.quote(options.goroot)}"
    path = shlex.quote(str(evidence.trace))
    if evidence.level == "safe":
        return f"python -m oracle fuzz --level safe --impl {evidence.impl}{extra} --replay {path}"
    return f"python -m oracle replay {path} --impl {evidence.impl}{extra}"


def _trace_rows(evidence: Evidence) -> list[str]:
    lines = evidence.text_lines
    failing = evidence.failing_line
    shown: list[int | None] = []
    numbers = list(range(1, len(lines) + 1))
    if len(lines) <= TRACE_HEAD + TRACE_BEFORE + TRACE_AFTER or failing is None:
        shown = list(numbers[: TRACE_HEAD + TRACE_BEFORE + TRACE_AFTER])
        if len(lines) > len(shown):
            shown.append(None)
    else:
        head = numbers[:TRACE_HEAD]
        around = numbers[max(failing - TRACE_BEFORE, TRACE_HEAD) : failing + TRACE_AFTER]
        shown = [*head, *([None] if around and around[0] > TRACE_HEAD + 1 else []), *around]
        if around and around[-1] < len(lines):
            shown.append(None)
    rows = []
    for number in shown:
        if number is None:
            rows.append('<tr class="gap"><td class="num">…</td><td class="text">lines left out</td><td></td></tr>')
            continue
        text = esc(lines[number - 1])
        if number == failing:
            rows.append(f'<tr class="line failing" id="failing-line" data-line="{number}"><td class="num">{number}'
                        f'</td><td class="text">{text}</td><td class="mark">◀ fails here</td></tr>')
        elif failing is not None and number > failing:
            rows.append(f'<tr class="line notrun" data-line="{number}"><td class="num">{number}</td>'
                        f'<td class="text">{text}</td><td class="mark"></td></tr>')
        else:
            rows.append(f'<tr class="line" data-line="{number}"><td class="num">{number}</td>'
                        f'<td class="text">{text}</td><td class="mark"></td></tr>')
    return rows


def _range(pages: tuple[int, int] | None) -> set[int]:
    return set(range(pages[0], pages[0] + pages[1])) if pages is not None else set()


def _markers(side: Side) -> dict[str, int | None]:
    hidden = side.hidden or {}
    return {"hint": hidden.get("search_page"), "fcur": hidden.get("force_cursor"), "bcur": hidden.get("bg_cursor")}


def _side_html(side: Side, dom_id: str, chunks: list[int], evidence: Evidence, expected: set[int], got: set[int],
               differ: set[int]) -> str:
    cp = evidence.params.chunk_pages
    cached = heapmap.cache_pages(side.state) if side.state is not None else set()
    marks = _markers(side)
    parts = [f'<div class="side" id="{dom_id}"><h3>{esc(side.label)}</h3>',
             f'<p class="source">{esc(side.source)}</p>']
    for chunk in chunks:
        first = chunk * cp
        grown = side.state is not None and chunk in side.state["chunks"]
        label = f"chunk {chunk} · pages {first:,}-{first + cp - 1:,}" + ("" if grown else " · not grown")
        cells = []
        for page in range(first, first + cp):
            kind = heapmap.page_kind(side.state, page, cp, cached)
            classes = ["p", kind]
            notes = [KIND_TEXT[kind]]
            if page in expected:
                classes.append("exp")
                notes.append("the model's answer" if evidence.level == "exact" else "a possible answer")
            if page in got:
                classes.append("got")
                notes.append(f"{evidence.impl}'s answer")
            if page in differ:
                classes.append("diff")
                notes.append("differs between the two sides" if evidence.level == "exact" else "handed out in use")
            for mark, at in marks.items():
                if at == page:
                    classes.append(mark)
                    notes.append({"hint": "search hint", "fcur": "forced scavenge cursor",
                                  "bcur": "background scavenge cursor"}[mark])
            cells.append(f'<b class="{" ".join(classes)}" data-page="{page}" title="page {page:,}: '
                         f'{esc("; ".join(notes))}"></b>')
        parts.append(f'<div class="chunk" data-chunk="{chunk}"><div class="chunk-label">{label}</div>'
                     f'<div class="grid">{"".join(cells)}</div></div>')
    parts.append("</div>")
    return "\n".join(parts)


def _legend(evidence: Evidence) -> str:
    items = [f'<span><i class="p {k}"></i>{esc(t)}</span>' for k, t in KIND_TEXT.items()]
    left = "the model's answer" if evidence.level == "exact" else "a possible answer"
    items += [
        f'<span><i class="p free exp"></i>{left}</span>',
        f'<span><i class="p free got"></i>{esc(evidence.impl)}\'s answer</span>',
        '<span><i class="p free diff"></i>differs</span>',
        '<span><i class="p free hint"></i>search hint</span>',
        '<span><i class="p free fcur"></i>forced scavenge cursor</span>',
        '<span><i class="p free bcur"></i>background scavenge cursor</span>',
    ]
    return f'<div class="legend">{"".join(items)}</div>'


def _triple(t: tuple[int, int, int]) -> str:
    return f"{t[0]:,}/{t[1]:,}/{t[2]:,}"


def _tree_html(evidence: Evidence) -> str:
    g = make_geometry(evidence.params)
    left, right = evidence.model, evidence.other
    left_page = left.pages[0] if left.pages else (left.hidden or {}).get("search_page")
    right_page = right.pages[0] if right.pages else left_page
    left_page = right_page if left_page is None else left_page
    levels = heapmap.tree_path(g, left.state, right.state, left_page, right_page)
    if not levels or left_page is None or right_page is None:
        return "<p>No page to follow: neither answer names one.</p>"
    out = [f"<p>Each entry: start / max / end free pages. Green above: on the path to page {left_page:,} "
           f"({esc(left.label)}); black below: on the path to page {right_page:,} ({esc(right.label)}); "
           "pink: the two sides' summaries differ.</p>"]
    for level in levels:
        head = "".join(f'<th>{e.index:,}</th>' for e in level.entries)

        def cells(entries: list[heapmap.Entry], pick: str) -> str:
            row = []
            for e in entries:
                classes = [c for c, on in (("lp", e.on_left_path), ("rp", e.on_right_path), ("d", e.differs)) if on]
                value = e.left if pick == "left" else e.right
                row.append(f'<td class="{" ".join(classes)}">{_triple(value)}</td>')
            return "".join(row)

        name = "root" if level.level == 0 else ("leaf: one chunk" if level.level == g.levels - 1 else "")
        out.append(
            f'<table class="level" data-level="{level.level}"><tr><th class="row">level {level.level}'
            f'{" (" + name + ")" if name else ""}, {level.pages_per_entry:,} pages an entry</th>{head}</tr>'
            f'<tr><th class="row">{esc(left.label)}</th>{cells(level.entries, "left")}</tr>'
            f'<tr><th class="row">{esc(right.label)}</th>{cells(level.entries, "right")}</tr></table>'
        )
    return "\n".join(out)


def _show_page(value: Any) -> str:
    return "—" if value is None else f"{value:,}"


def _hidden_html(evidence: Evidence) -> str:
    left, right = evidence.model, evidence.other
    rows = []
    for key, name in (("search_page", "search hint (page)"), ("force_cursor", "forced scavenge cursor"),
                      ("bg_cursor", "background scavenge cursor")):
        a = _show_page((left.hidden or {}).get(key)) if left.hidden is not None else "not known"
        b = _show_page((right.hidden or {}).get(key)) if right.hidden is not None else "not known"
        differs = left.hidden is not None and right.hidden is not None and a != b
        rows.append(f'<tr><th>{name}</th><td>{a}</td><td class="{"d" if differs else ""}">{b}</td></tr>')
    return (f'<table class="hidden"><tr><th></th><th>{esc(left.label)}</th><th>{esc(right.label)}</th></tr>'
            + "".join(rows) + "</table><p>— : the full heap (no free page), or a cleared cursor.</p>")


def render(evidence: Evidence, timeline: Timeline | None = None, options: ImplOptions | None = None) -> str:
    cp = evidence.params.chunk_pages
    left, right = evidence.model, evidence.other
    expected, got = _range(left.pages), _range(right.pages)
    focus = sorted(expected | got)[:1] + sorted(got)[:1] + sorted(expected)[-1:] + sorted(got)[-1:]
    chunks = heapmap.chunks_to_show(left.state, right.state, focus, cp)
    differ = set(evidence.conflict) if evidence.level == "safe" else heapmap.differing_pages(
        left.state, right.state, chunks, cp)
    failing = evidence.failing_line
    title = (f"{evidence.trace.name}: {evidence.impl} fails at line {failing}" if failing is not None
             else f"{evidence.trace.name}: {evidence.impl} passes every line")
    level_text = ("exact level: every result must equal the model's" if evidence.level == "exact"
                  else "safe level: every answer must be possible given the answers before it")
    params = evidence.params
    notes = []
    if evidence.first_divergence is not None and (failing is None or evidence.first_divergence < failing):
        notes.append(f"The states first differed after line {evidence.first_divergence}, before any answer did.")
    diffs = "".join(f"<li><code>{esc(d)}</code></li>" for d in evidence.differences)
    after = evidence.moment or "after the last line"
    sections = [
        f'<header><h1>{esc(title)}</h1><p class="verdict">{esc(level_text)} · chunk_pages {params.chunk_pages}, '
        f"phys_page_pages {params.phys_page_pages}, huge_page_pages {params.huge_page_pages}, trace version "
        f"{params.version}</p></header>",
        '<section id="failure"><h2>Expected and got</h2>'
        f'<pre class="message{"" if failing is not None else " ok"}">{esc(evidence.message)}</pre>'
        + "".join(f"<p>{esc(n)}</p>" for n in notes)
        + (f'<p>How the states differ {after}:</p><ul class="diffs">{diffs}</ul>' if diffs else "")
        + f"<p>Reproduce: <code>{esc(reproduce_command(evidence, options))}</code></p></section>",
        f'<section id="trace"><h2>The trace</h2><table class="trace">{"".join(_trace_rows(evidence))}</table>'
        "</section>",
        f'<section id="heap"><h2>The heap {after}</h2>{_legend(evidence)}<div class="sides">'
        + _side_html(left, "side-left", chunks, evidence, expected, got, differ)
        + _side_html(right, "side-right", chunks, evidence, expected, got, differ)
        + "</div></section>",
        f'<section id="tree"><h2>Summaries along the search path</h2>{_tree_html(evidence)}</section>',
        f'<section id="hidden"><h2>Search hint and scavenge cursors</h2>{_hidden_html(evidence)}</section>',
    ]
    if timeline is not None and len(timeline.samples) >= 2:
        last = timeline.samples[-1]
        states = f", {last.states:,} {esc(timeline.states_label)}" if last.states is not None else ""
        sections.append(f'<section id="progress"><h2>Campaign progress</h2><p>{last.ops:,} '
                        f"{esc(timeline.ops_label)} in {last.seconds:.1f} s{states}.</p>{svg(timeline)}</section>")
    body = "\n".join(sections)
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
            f"<style>{STYLE}</style></head>\n<body>\n{body}\n<footer>python -m oracle report · "
            f"{esc(evidence.trace)}</footer>\n</body></html>\n")


def write_report(trace: Path, impl: str, out: OutputFile, options: ImplOptions | None = None, level: str = "exact",
                 timeline: Timeline | None = None) -> Evidence:
    """Replay the trace, render the page and write it to out; the evidence (TraceError on a bad line)."""
    evidence = gather(trace, impl, options, level)
    out.write_text(render(evidence, timeline if timeline is not None else load_beside(trace), options))
    return evidence
