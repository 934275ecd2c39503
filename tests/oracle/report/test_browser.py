"""The report page in a real browser: headless Chromium lays it out, draws it, and the pixels are checked.

Two runs of Chromium over the same page at the same window size: one
takes a screenshot of the page exactly as written; the other loads a copy
with a small measuring script appended (the page itself has no script),
which writes the laid-out rectangles of the failing trace row and of
chosen heap cells into the DOM, dumped with --dump-dom. The screenshot's
pixels at those rectangles must have the colours the page gives them, and
the cells must sit where the page's geometry puts them: page p of a chunk
in row (p mod chunk_pages) div 64, column p mod 64 of that chunk's grid.

Chromium comes from Debian's `chromium` package (.ci/run installs it);
without it these tests skip, saying so. Every run is headless, with a
fresh profile, no network, and a timeout.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from oracle import cli
from oracle.report.page import CELL, COLUMNS
from tests.helpers import HINT_TOO_FAR

PIL = pytest.importorskip("PIL.Image", reason="Pillow reads the screenshot (pip install -e '.[test]')")

WINDOW = (1500, 1400)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
         "--force-device-scale-factor=1", f"--window-size={WINDOW[0]},{WINDOW[1]}"]
FAILING_ROW = (0xFF, 0xD7, 0xD5)
DIFF = (0xE6, 0x00, 0x7E)
USED = (0x3B, 0x6F, 0xB6)

MEASURE = """
<script>
(function () {
  function box(el) { var r = el.getBoundingClientRect(); return {x: r.x, y: r.y, w: r.width, h: r.height}; }
  var out = {failing: null, cells: []};
  var row = document.getElementById("failing-line");
  if (row) { out.failing = box(row); out.failing.line = row.dataset.line; out.failing.text = row.textContent; }
  ["side-left", "side-right"].forEach(function (side) {
    document.querySelectorAll("#" + side + " .p").forEach(function (cell) {
      var classes = cell.className.split(" ");
      if (classes.indexOf("diff") < 0 && classes.indexOf("exp") < 0 && classes.indexOf("got") < 0) return;
      var chunk = cell.closest(".chunk"), grid = cell.parentElement;
      var c = box(cell); c.page = +cell.dataset.page; c.side = side; c.classes = classes;
      c.chunk = +chunk.dataset.chunk; c.grid = box(grid); c.sideBox = box(document.getElementById(side));
      out.cells.push(c);
    });
  });
  var pre = document.createElement("pre"); pre.id = "measured"; pre.style.display = "none";
  pre.textContent = JSON.stringify(out); document.body.appendChild(pre);
})();
</script>
"""


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no Chromium on PATH (Debian: apt-get install chromium; .ci/run installs it)")


def run_chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    done = subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True,
                          timeout=90)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, object, str]:
    """(the measured layout, the screenshot, the page's text) for the report of a fast/ fault."""
    tmp_path = tmp_path_factory.mktemp("browser")
    trace = tmp_path / "hint.jsonl"
    trace.write_text(HINT_TOO_FAR, encoding="utf-8")
    page = tmp_path / "report.html"
    assert cli.main(["report", str(trace), "--impl", "fast", "--fault", "hint_too_far", "-o", str(page)]) == 1
    text = page.read_text(encoding="utf-8")
    measured_copy = tmp_path / "measured.html"
    measured_copy.write_text(text.replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    dom = run_chromium(tmp_path, "--dump-dom", measured_copy.as_uri()).stdout
    found = re.search(r'<pre id="measured" style="display: none;">(.*?)</pre>', dom, re.DOTALL)
    assert found is not None, dom[-2000:]
    layout = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<")
                        .replace("&gt;", ">"))
    shot = tmp_path / "report.png"
    run_chromium(tmp_path, f"--screenshot={shot}", page.as_uri())
    image = PIL.open(shot).convert("RGB")
    assert image.size == WINDOW
    return layout, image, text


def near(pixel: tuple[int, int, int], colour: tuple[int, int, int], tolerance: int = 12) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=True))


def test_the_failing_line_is_drawn_marked(rendered: tuple[dict, object, str]) -> None:
    layout, image, _ = rendered
    row = layout["failing"]
    assert row is not None and row["line"] == "5"
    assert '"op": "alloc", "npages": 1' in row["text"] and "fails here" in row["text"]
    assert 0 < row["y"] and row["y"] + row["h"] < WINDOW[1] and row["w"] > 600  # on screen, across the panel
    # Sampled along the row, right of the text and left of the marker: the failing row's background.
    y = int(row["y"] + row["h"] / 2)
    xs = [int(row["x"] + row["w"] * f) for f in (0.55, 0.65, 0.75)]
    assert all(near(image.getpixel((x, y)), FAILING_ROW) for x in xs), [image.getpixel((x, y)) for x in xs]
    # Just above the row: the page's white background, so the colour belongs to that row alone.
    assert near(image.getpixel((xs[0], int(row["y"]) - 3)), (255, 255, 255))


def test_the_differing_pages_are_drawn_where_their_page_numbers_put_them(rendered: tuple[dict, object, str]) -> None:
    layout, image, _ = rendered
    cells = {(c["side"], c["page"]): c for c in layout["cells"]}
    for side, page in (("side-left", 0), ("side-right", 0), ("side-left", 73), ("side-right", 73)):
        cell = cells[(side, page)]
        assert "diff" in cell["classes"]
        assert cell["chunk"] == page // 64
        column, row = page % COLUMNS, (page % 64) // COLUMNS
        assert abs(cell["x"] - cell["grid"]["x"] - column * (CELL + 1)) < 0.5
        assert abs(cell["y"] - cell["grid"]["y"] - row * (CELL + 1)) < 0.5
        assert cell["w"] == CELL and cell["h"] == CELL
        box = cell["sideBox"]
        assert box["x"] <= cell["x"] < box["x"] + box["w"] and cell["y"] + CELL < WINDOW[1]
        # The top-left half of a differing cell, inside the answer outlines, is the "differs" colour.
        inset = 4 if "exp" in cell["classes"] and "got" in cell["classes"] else 2
        at = (math.ceil(cell["x"]) + inset + 1, math.ceil(cell["y"]) + inset + 1)
        assert near(image.getpixel(at), DIFF), (side, page, image.getpixel(at))
    # The two sides are side by side, the implementation's to the right.
    assert cells[("side-right", 0)]["x"] > cells[("side-left", 0)]["x"] + COLUMNS * (CELL + 1)
    # The model's page 0 is in use (and its answer, outlined): below the "differs" half, the kind's colour.
    left0 = cells[("side-left", 0)]
    assert "exp" in left0["classes"] and "got" not in left0["classes"]
    assert near(image.getpixel((math.ceil(left0["x"]) + CELL - 3, math.ceil(left0["y"]) + CELL - 4)), USED)


def test_the_page_is_self_contained(rendered: tuple[dict, object, str]) -> None:
    _, _, text = rendered
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", text)
    assert "<script" not in text
