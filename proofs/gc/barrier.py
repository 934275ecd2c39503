"""Proof: one pointer write under the hybrid barrier preserves the weak tricolor invariant.

The state is symbolic: a heap of N objects with two pointer slots each
(every slot nil or any object; an object white, grey or black; noscan or
not, a noscan object having no pointers and never being grey), the globals
as one heap node with two slots (grey until scanned, black after), and two
goroutine stacks of two slots each (grey or black). The weak tricolor
invariant is the form model.gc.invariants checks after every step:

    every white object that a black node (object, globals or stack) points
    to is grey-protected: reachable from a grey object or grey globals
    through white objects only. Grey stacks protect nothing.

Assume it holds, and let goroutine 0 write a pointer it holds (one of its
stack slots, or nil) into a slot of any object with pointers, or into a
global. The write runs the model's own barrier code on Z3 terms:
model.gc.barrier.shades (which pointers get shaded, given the writer's
stack colour) and model.gc.barrier.shaded (the colour a shade gives: white
becomes grey, or black when noscan). The claim: the invariant holds
afterwards, for every such state and write.

Why it holds: the deletion half shades the overwritten object, so a
protecting path through the overwritten slot continues from a grey object;
when the writer's stack is grey the insertion half shades the written
object; when it is black, the written object was already protected or
non-white, because a black stack's pointers are covered by the invariant.

Controls: without the barrier the claim fails; so it does without either
half alone (the deletion half: overwriting the last protecting pointer of
an object a black stack holds; the insertion half: a grey stack moving a
pointer into a black object). Each is a registered proof of its own whose
control removes that half.

The heap is bounded (N objects of two slots, so every shape of up to N
objects, including cycles); the property is local to the written slot,
the two shaded objects and the paths through them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import z3

from model.gc.barrier import BLACK, GREY, HYBRID, NO_BARRIER, NO_DELETION, NO_INSERTION, WHITE, Barrier, shaded, shades
from proofs.core import Claim, Obligation, Proof

OBJECTS = 4
SLOTS = 2
STACKS = 2
STACK_SLOTS = 2
NIL = -1


class State:
    """A symbolic heap, globals and stacks; `pre` constrains every variable to its range."""

    def __init__(self, tag: str) -> None:
        n = OBJECTS
        self.color = [z3.Int(f"{tag}color{o}") for o in range(n)]
        self.noscan = [z3.Bool(f"{tag}noscan{o}") for o in range(n)]
        self.slot = [[z3.Int(f"{tag}obj{o}.{k}") for k in range(SLOTS)] for o in range(n)]
        self.globals_black = z3.Bool(f"{tag}globals_black")
        self.glob = [z3.Int(f"{tag}global{k}") for k in range(SLOTS)]
        self.stack_black = [z3.Bool(f"{tag}stack{s}_black") for s in range(STACKS)]
        self.stack = [[z3.Int(f"{tag}stack{s}.{i}") for i in range(STACK_SLOTS)] for s in range(STACKS)]

    def ranges(self) -> list[Any]:
        n = OBJECTS
        out = []
        pointers = [p for row in self.slot for p in row] + self.glob + [p for row in self.stack for p in row]
        out += [z3.And(p >= NIL, p < n) for p in pointers]
        for o in range(n):
            out.append(z3.Or(self.color[o] == WHITE, self.color[o] == GREY, self.color[o] == BLACK))
            out.append(z3.Implies(self.noscan[o], z3.And(self.color[o] != GREY, *[p == NIL for p in self.slot[o]])))
        return out


def white(state: State, t: Any) -> Any:
    return z3.Or([z3.And(t == o, state.color[o] == WHITE) for o in range(OBJECTS)])


def protected(state: State) -> list[Any]:
    """For each object: white and reachable from a grey object or grey globals through white objects."""
    n = OBJECTS
    grey_sources = [(state.color[o] == GREY, state.slot[o]) for o in range(n)]
    grey_sources.append((z3.Not(state.globals_black), state.glob))
    level = [
        z3.And(state.color[t] == WHITE, z3.Or([z3.And(g, p == t) for g, row in grey_sources for p in row]))
        for t in range(n)
    ]
    for _ in range(n):
        level = [
            z3.Or(
                level[t],
                z3.And(
                    state.color[t] == WHITE,
                    z3.Or([z3.And(level[u], p == t) for u in range(n) for p in state.slot[u]]),
                ),
            )
            for t in range(n)
        ]
    return level


def weak_tricolor(state: State) -> Any:
    prot = protected(state)
    n = OBJECTS

    def covered(p: Any) -> Any:
        return z3.And([z3.Implies(z3.And(p == t, state.color[t] == WHITE), prot[t]) for t in range(n)])

    black_edges = [z3.Implies(state.color[o] == BLACK, covered(p)) for o in range(n) for p in state.slot[o]]
    black_edges += [z3.Implies(state.globals_black, covered(p)) for p in state.glob]
    black_edges += [
        z3.Implies(state.stack_black[s], covered(p)) for s in range(STACKS) for p in state.stack[s]
    ]
    return z3.And(black_edges)


def pick(cases: list[tuple[Any, Any]]) -> Any:
    """The value of the first case whose condition holds (nil if none does)."""
    out: Any = z3.IntVal(NIL)
    for condition, value in reversed(cases):
        out = z3.If(condition, value, out)
    return out


def apply_write(barrier: Barrier, pre: State, target_global: Any, x: Any, k: Any, new: Any) -> State:
    """Goroutine 0 writes `new` into slot k of object x (or global k): the barrier's shades, then the store."""
    post = State("post_")
    old_in_object = pick([(z3.And(x == o, k == j), pre.slot[o][j]) for o in range(OBJECTS) for j in range(SLOTS)])
    old_in_global = pick([(k == j, pre.glob[j]) for j in range(SLOTS)])
    old = z3.If(target_global, old_in_global, old_in_object)
    colors: list[Any] = list(pre.color)
    for condition, pointer in shades(barrier, old, new, z3.Not(pre.stack_black[0])):
        colors = [
            z3.If(z3.And(condition, pointer == o), shaded(colors[o], pre.noscan[o]), colors[o])
            for o in range(OBJECTS)
        ]
    fixed = []
    for o in range(OBJECTS):
        fixed.append(post.color[o] == colors[o])
        fixed.append(post.noscan[o] == pre.noscan[o])
        for j in range(SLOTS):
            written = z3.And(z3.Not(target_global), x == o, k == j)
            fixed.append(post.slot[o][j] == z3.If(written, new, pre.slot[o][j]))
    for j in range(SLOTS):
        fixed.append(post.glob[j] == z3.If(z3.And(target_global, k == j), new, pre.glob[j]))
    fixed.append(post.globals_black == pre.globals_black)
    for s in range(STACKS):
        fixed.append(post.stack_black[s] == pre.stack_black[s])
        fixed += [post.stack[s][i] == pre.stack[s][i] for i in range(STACK_SLOTS)]
    post.constraints = fixed  # type: ignore[attr-defined]
    return post


def write_barrier(barrier: Barrier) -> Iterator[Obligation]:
    """After any pointer write by a goroutine, under `barrier`, the weak tricolor invariant still holds.

    The written pointer is one the writer holds on its stack, or nil; the
    slot is one of an object with pointers (noscan objects have none) or a
    global. Checked for a heap write and a global write, with the writer's
    stack grey or black.
    """
    pre = State("pre_")
    x, k, j = z3.Ints("x k j")
    use_nil = z3.Bool("store_nil")
    new = z3.If(use_nil, NIL, pick([(j == i, pre.stack[0][i]) for i in range(STACK_SLOTS)]))
    choice = [z3.And(j >= 0, j < STACK_SLOTS), z3.And(k >= 0, k < SLOTS)]
    show = [("writer stack black", pre.stack_black[0]), ("globals black", pre.globals_black), ("x", x), ("k", k),
            ("new", new)]
    show += [(f"color{o}", pre.color[o]) for o in range(OBJECTS)]
    show += [(f"noscan{o}", pre.noscan[o]) for o in range(OBJECTS)]
    show += [(f"obj{o}.{s}", pre.slot[o][s]) for o in range(OBJECTS) for s in range(SLOTS)]
    show += [(f"global{s}", pre.glob[s]) for s in range(SLOTS)]
    show += [(f"stack0.{i}", pre.stack[0][i]) for i in range(STACK_SLOTS)]
    for into_global, label in ((False, "a pointer write into a heap object"), (True, "a pointer write into a global")):
        post = apply_write(barrier, pre, z3.BoolVal(into_global), x, k, new)
        target_ok = [] if into_global else [
            z3.And(x >= 0, x < OBJECTS), z3.Or([z3.And(x == o, z3.Not(pre.noscan[o])) for o in range(OBJECTS)])
        ]
        yield Claim(
            f"{label} keeps the weak tricolor invariant",
            weak_tricolor(post),
            [*pre.ranges(), weak_tricolor(pre), *choice, *target_ok, *post.constraints],  # type: ignore[attr-defined]
            show,
        )


STATEMENT = (
    "a pointer write under the hybrid write barrier (shade the overwritten pointer, and the written one while "
    "the writer's stack is grey) preserves the weak tricolor invariant"
)

WRITE_BARRIER = Proof("write_barrier", STATEMENT + "; control: no barrier", write_barrier, HYBRID, NO_BARRIER)
WRITE_BARRIER_DELETION = Proof(
    "write_barrier_deletion_half",
    STATEMENT + "; control: the deletion half removed",
    write_barrier,
    HYBRID,
    NO_DELETION,
)
WRITE_BARRIER_INSERTION = Proof(
    "write_barrier_insertion_half",
    STATEMENT + "; control: the insertion half removed",
    write_barrier,
    HYBRID,
    NO_INSERTION,
)

PROOFS = (WRITE_BARRIER, WRITE_BARRIER_DELETION, WRITE_BARRIER_INSERTION)
