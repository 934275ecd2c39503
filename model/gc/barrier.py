"""The hybrid write barrier, and the colour a shade gives an object.

While the collector marks, every pointer write into the heap or a global
(never into a stack) goes through the barrier (Go: mbarrier.go, the
compiler's write barrier and wbBuf):

    writePointer(slot, ptr):
        shade(*slot)                    the deletion half (Yuasa)
        if the writer's stack is grey:
            shade(ptr)                  the insertion half (Dijkstra)
        *slot = ptr

`shade` greys a white object (marks it and queues it for scanning), or
blackens it at once when it is noscan: nothing in it needs scanning
(model.gc.mark.greyobject). The deletion half stops a mutator from hiding
an object by moving the only pointer to it from the heap onto its stack;
the insertion half stops it from hiding one by moving the only pointer to
it from its not-yet-scanned stack into a black object. A stack is grey
until the collector has scanned it, black after; stack writes have no
barrier at all, so a black stack stays black.

Go's compiled barrier shades both pointers unconditionally (it cannot
cheaply test the stack's colour); this model shades the new pointer only
while the writer's stack is grey, which is the weaker barrier the design
proves sufficient, so a model run shows that sufficiency.

`shades` works on plain values and on Z3 terms (through model.words), and
proofs/gc/barrier.py proves the weak tricolor invariant on the collector
that calls it (model.gc.cycle), so the proof covers this very code.
`Barrier` switches either half off, for the negative controls and for
showing the object a broken barrier loses.
"""

from __future__ import annotations

from typing import Any

import attrs

from model import words


@attrs.frozen
class Barrier:
    deletion: bool = True
    insertion: bool = True

    @property
    def name(self) -> str:
        return {v: k for k, v in BARRIERS.items()}[self]


HYBRID = Barrier()
NO_INSERTION = Barrier(insertion=False)  # Yuasa's deletion barrier alone
NO_DELETION = Barrier(deletion=False)  # Dijkstra's insertion barrier alone, off once the stack is black
NO_BARRIER = Barrier(deletion=False, insertion=False)

BARRIERS: dict[str, Barrier] = {
    "hybrid": HYBRID,
    "no-insertion": NO_INSERTION,
    "no-deletion": NO_DELETION,
    "none": NO_BARRIER,
}


def shades(barrier: Barrier, old: Any, new: Any, stack_grey: words.Flag) -> tuple[tuple[words.Flag, Any], ...]:
    """The (condition, pointer) pairs a write of `new` over `old` shades, for a writer whose stack is grey or not.

    A pair's pointer is shaded when its condition holds and it is not nil.
    """
    out: list[tuple[words.Flag, Any]] = []
    if barrier.deletion:
        out.append((True, old))
    if barrier.insertion:
        out.append((stack_grey, new))
    return tuple(out)
