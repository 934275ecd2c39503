"""Failure reports: one self-contained HTML page showing a failing trace, both heaps and the search path.

  evidence  replay the trace (exact or safe level) and gather what the page
            shows: the failing line, expected and got, the model's heap and
            the implementation's (its snapshot, or its answers applied to
            the model's state before the line), the first divergence
  heapmap   the picture as data: page kinds, the chunks shown, the
            differing pages, the tree entries along both search paths
  page      the HTML page itself, and write_report
  timeline  a campaign's ops and distinct states over time, saved beside a
            failing trace and drawn on its page
  cli       `python -m oracle report TRACE --impl X [-o OUT.html]`

Campaigns (`fuzz`, `fuzz --impl go`, `go-fuzz`) write the page next to each
failing trace, with the same name and `.html`.
"""
