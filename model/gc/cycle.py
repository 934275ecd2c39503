"""A collection cycle with mutators: the steps a concurrent GC trace is made of.

The world is a heap (model.gc.heap) with goroutines and globals, a phase,
and while marking a marker (model.gc.mark). Phases (Go: gcphase, mgc.go):

  off              mutators run; no barrier; new objects are white.
  mark             gc_start has run (Go: gcStart, with the world stopped:
                   mark bits clear, every root grey, barrier on). Mutator
                   steps interleave with collector steps: root jobs
                   (markroot) and scans of work items (drain). Pointer
                   writes into the heap or a global go through the write
                   barrier (model.gc.barrier); writes to stacks do not. New
                   objects are black. A finalizer set now has its object
                   scanned at once (Go: addfinalizer during marking).
  marktermination  mark_done has run: every root was scanned and the queue
                   is empty, so no grey object is left (Go: gcMarkDone,
                   gcMarkTermination; the world is stopped, mutators wait).
                   mark_termination ends the cycle (model.gc.sweep: a new
                   sweepgen, every P's cache flushed) and the phase is off
                   again, with every span left to sweep lazily: by
                   allocations, by sweep_one (the background sweeper) and
                   at the latest by finish_sweep, which gc_start runs
                   first (sweep termination). sweep does mark_termination
                   and finish_sweep at once (the first trace format's step).

Mutator steps, each by goroutine g on its stack slots:
  alloc(g, slot, id, size, noscan, offsets, p) new object, allocated on P p, into stack slot
  load(g, dst, src, off)      stack[dst] = object at stack[src], slot off
  store(g, dst, off, src)     object at stack[dst], slot off = stack[src] or nil  (barrier)
  copy(g, dst, src)           stack[dst] = stack[src] or nil              (no barrier)
  gload(g, dst, index)        stack[dst] = global index
  gstore(g, index, src)       global index = stack[src] or nil            (barrier)
  set_finalizer(g, slot)      the object at stack[slot] gets a finalizer
and, with the phase off, run_finalizers: every queued finalizer runs and
drops its object (the model's finalizers resurrect nothing).

Every step checks its arguments and the phase completely before changing
anything, and raises InvalidOperation naming what is wrong.

`gc()` is a whole cycle at once, leaving sweeping lazy: gc_start, every
root, drain, mark_done, mark_termination.

`collect(spec)` is the stop-the-world cycle a heap snapshot gets: build
the heap, mark every root, drain, sweep.
"""

from __future__ import annotations

import attrs

from model.errors import InvalidOperation
from model.gc.barrier import HYBRID, Barrier, shades
from model.gc.heap import GcHeap, HeapObject
from model.gc.mark import Marker, mark_stw, stack_root
from model.gc.mheap import RecordedPages
from model.gc.results import HeapSpec, MarkResult, ObjectId, sort_ids
from model.gc.sweep import SweepResult, finish_sweep, mark_termination, sweep, sweep_one
from model.geometry import AMD64, Geometry

PHASE_OFF = "off"
PHASE_MARK = "mark"
PHASE_TERMINATION = "marktermination"


@attrs.define
class GcWorld:
    heap: GcHeap
    barrier: Barrier = HYBRID
    phase: str = PHASE_OFF
    marker: Marker | None = None
    cycle: int = 0
    allocated_in_cycle: set[ObjectId] = attrs.Factory(set)
    last_sweep: SweepResult | None = None
    sweeps: list[SweepResult] = attrs.Factory(list)  # the sweeping done by each step, taken by take_sweeps

    @staticmethod
    def create(
        goroutines: int,
        stack_slots: int,
        globals: int,
        barrier: Barrier = HYBRID,
        spec: HeapSpec | None = None,
        stacks: list[list[ObjectId | None]] | None = None,
        geometry: Geometry = AMD64,
        procs: int = 1,
        tiny: bool = False,
        recorded: RecordedPages | None = None,
    ) -> GcWorld:
        """A world with the phase off; `spec`'s objects allocated, its roots in the first globals,
        and `stacks[g][i]`, if given, in goroutine g's stack slot i. `procs` Ps allocate; `tiny` allows
        size 0 and tiny objects; `recorded` gives new spans' pages from a recorded run."""
        if spec is None:
            heap = GcHeap.create(goroutines, stack_slots, globals, geometry, procs, tiny, recorded)
        else:
            if spec.procs != procs or spec.tiny != tiny or recorded is not None:
                spec = attrs.evolve(spec, procs=max(procs, spec.procs), tiny=tiny or spec.tiny)
            if len(spec.roots) > globals:
                raise InvalidOperation(f"the heap has {len(spec.roots)} roots but there are only {globals} globals")
            heap = GcHeap.from_spec(spec, goroutines, stack_slots, geometry)
            heap.globals += [None] * (globals - len(spec.roots))
            if recorded is not None:
                heap.recorded = recorded
        if stacks is not None:
            if len(stacks) > goroutines or any(len(s) > stack_slots for s in stacks):
                raise InvalidOperation(f"initial stacks exceed {goroutines} goroutines of {stack_slots} slots")
            for g, stack in enumerate(stacks):
                for i, oid in enumerate(stack):
                    if oid is not None and oid not in heap.objects:
                        raise InvalidOperation(f"initial stack {g} slot {i}: unknown id {oid!r}")
                    heap.stacks[g][i] = oid
        return GcWorld(heap, barrier)

    # Helpers.

    def _mutator(self) -> None:
        if self.phase == PHASE_TERMINATION:
            raise InvalidOperation("mutators are stopped during mark termination; sweep first")

    def _marker(self) -> Marker:
        if self.phase != PHASE_MARK or self.marker is None:
            raise InvalidOperation(f"the collector is not marking (phase {self.phase}); gc_start first")
        return self.marker

    def _object_at(self, g: int, slot: int, what: str) -> HeapObject:
        self.heap.check_stack_slot(g, slot)
        oid = self.heap.stacks[g][slot]
        if oid is None:
            raise InvalidOperation(f"{what}: goroutine {g} stack slot {slot} is nil")
        return self.heap.obj(oid)

    def _value(self, g: int, slot: int | None) -> ObjectId | None:
        if slot is None:
            return None
        self.heap.check_stack_slot(g, slot)
        return self.heap.stacks[g][slot]

    def _check_field(self, obj: HeapObject, off: object) -> int:
        if isinstance(off, bool) or not isinstance(off, int) or off not in obj.slots:
            raise InvalidOperation(
                f"object {obj.id!r} has no pointer slot at offset {off!r} (its slots: {sorted(obj.slots)})"
            )
        return off

    def write_barrier(self, g: int, old: ObjectId | None, new: ObjectId | None) -> None:
        if self.phase != PHASE_MARK or self.marker is None:
            return
        for condition, pointer in shades(self.barrier, old, new, self.marker.stack_is_grey(g)):
            if condition and pointer is not None:
                self.marker.shade(pointer)

    # Mutator steps.

    def alloc(self, g: int, slot: int, oid: ObjectId, size: int, noscan: bool, offsets: list[int],
              p: int = 0) -> None:
        self._mutator()
        self.heap.check_stack_slot(g, slot)
        self.heap.mcache(p)
        self.heap.take_swept()
        obj = self.heap.allocate(oid, size, noscan, offsets, p)
        self.sweeps.append(SweepResult.of(self.heap.take_swept()))
        self.heap.stacks[g][slot] = oid
        if self.phase == PHASE_MARK and self.marker is not None:
            if self.heap.last_malloc is not None and self.heap.last_malloc.new_slot:
                self.marker.mark_new_object(obj)
            self.allocated_in_cycle.add(oid)

    def alloc_global(self, index: int, oid: ObjectId, size: int, noscan: bool, offsets: list[int],
                     p: int = 0) -> None:
        """A new object stored straight into global `index` by goroutine 0 (through the write barrier, which
        shades what the global held: the new object is black already while marking)."""
        self._mutator()
        self.heap.check_global(index)
        self.heap.check_goroutine(0)
        self.heap.mcache(p)
        self.heap.take_swept()
        obj = self.heap.allocate(oid, size, noscan, offsets, p)
        self.sweeps.append(SweepResult.of(self.heap.take_swept()))
        if self.phase == PHASE_MARK and self.marker is not None:
            if self.heap.last_malloc is not None and self.heap.last_malloc.new_slot:
                self.marker.mark_new_object(obj)
            self.allocated_in_cycle.add(oid)
        self.write_barrier(0, self.heap.globals[index], oid)
        self.heap.globals[index] = oid

    def load(self, g: int, dst: int, src: int, off: int) -> None:
        self._mutator()
        self.heap.check_stack_slot(g, dst)
        obj = self._object_at(g, src, "load")
        self._check_field(obj, off)
        self.heap.stacks[g][dst] = obj.slots[off]

    def store(self, g: int, dst: int, off: int, src: int | None) -> None:
        self._mutator()
        obj = self._object_at(g, dst, "store")
        self._check_field(obj, off)
        new = self._value(g, src)
        self.write_barrier(g, obj.slots[off], new)
        obj.slots[off] = new

    def copy(self, g: int, dst: int, src: int | None) -> None:
        self._mutator()
        self.heap.check_stack_slot(g, dst)
        self.heap.stacks[g][dst] = self._value(g, src)

    def gload(self, g: int, dst: int, index: int) -> None:
        self._mutator()
        self.heap.check_stack_slot(g, dst)
        self.heap.check_global(index)
        self.heap.stacks[g][dst] = self.heap.globals[index]

    def gstore(self, g: int, index: int, src: int | None) -> None:
        self._mutator()
        self.heap.check_global(index)
        new = self._value(g, src)
        self.write_barrier(g, self.heap.globals[index], new)
        self.heap.globals[index] = new

    def set_finalizer(self, g: int, slot: int) -> None:
        self._mutator()
        obj = self._object_at(g, slot, "set_finalizer")
        if obj.id in self.heap.finalizers:
            raise InvalidOperation(f"object {obj.id!r} already has a finalizer")
        self.heap.finalizers.add(obj.id)
        if self.phase == PHASE_MARK and self.marker is not None:
            self.marker.scan_finalizer(obj.id)

    def run_finalizers(self) -> tuple[ObjectId, ...]:
        if self.phase != PHASE_OFF:
            raise InvalidOperation("the model runs queued finalizers only while the collector is off")
        ran = tuple(self.heap.finq)
        self.heap.finq.clear()
        return ran

    # Collector steps.

    def gc_start(self) -> SweepResult:
        """Sweep termination, then a new cycle: page marks reset, the tiny blocks greyed, barrier on."""
        if self.phase != PHASE_OFF:
            raise InvalidOperation(f"gc_start during phase {self.phase}; a cycle is already running")
        swept = finish_sweep(self.heap)
        self.sweeps.append(swept)
        self.marker = Marker.start(self.heap)
        self.marker.mark_tiny_blocks()
        self.phase = PHASE_MARK
        self.cycle += 1
        self.allocated_in_cycle = set()
        return swept

    def markroot(self, root: str) -> None:
        self._marker().markroot(root)

    def scan_stack(self, g: int) -> None:
        self.heap.check_goroutine(g)
        self.markroot(stack_root(g))

    def drain(self, limit: int | None = None) -> int:
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise InvalidOperation(f"drain count must be an integer >= 1, got {limit!r}")
        return self._marker().drain(limit)

    def mark_done(self) -> tuple[ObjectId, ...]:
        marker = self._marker()
        left = marker.roots_left()
        if left:
            raise InvalidOperation(f"mark_done with root jobs left: {', '.join(left)}")
        if marker.queue:
            raise InvalidOperation(f"mark_done with {len(marker.queue)} work items still queued")
        self.phase = PHASE_TERMINATION
        return sort_ids(self.heap.marked_ids())

    def finish_marking(self) -> tuple[ObjectId, ...]:
        """Every root job left, then drain, then mark_done: the collector's steps run to the end."""
        marker = self._marker()
        marker.mark_roots()
        marker.drain()
        return self.mark_done()

    def sweep(self) -> SweepResult:
        """Mark termination and sweep termination at once."""
        if self.phase != PHASE_TERMINATION:
            raise InvalidOperation(f"sweep during phase {self.phase}; mark_done first")
        self.last_sweep = sweep(self.heap)
        self.sweeps.append(self.last_sweep)
        self.phase = PHASE_OFF
        return self.last_sweep

    def mark_termination(self) -> SweepResult:
        """End the cycle, leaving the spans to sweep lazily; what the caches' flush swept."""
        if self.phase != PHASE_TERMINATION:
            raise InvalidOperation(f"mark_termination during phase {self.phase}; mark_done first")
        result = mark_termination(self.heap)
        self.sweeps.append(result)
        self.phase = PHASE_OFF
        return result

    def sweep_one(self) -> SweepResult:
        """One step of the background sweeper."""
        if self.phase != PHASE_OFF:
            raise InvalidOperation(f"the background sweeper runs while the collector is off, not in {self.phase}")
        result = sweep_one(self.heap)
        self.sweeps.append(result)
        return result

    def finish_sweep(self) -> SweepResult:
        """Sweep termination: every span left is swept."""
        if self.phase != PHASE_OFF:
            raise InvalidOperation(f"finish_sweep while the collector is off, not in {self.phase}")
        result = finish_sweep(self.heap)
        self.sweeps.append(result)
        return result

    def gc(self) -> tuple[tuple[ObjectId, ...], SweepResult]:
        """A whole cycle: gc_start, every root job, drain, mark_done, mark_termination. The marked objects,
        and what the cycle swept (at its start, sweep termination; at its end, the caches' flush)."""
        if self.phase != PHASE_OFF:
            raise InvalidOperation(f"gc during phase {self.phase}; a cycle is already running")
        first = self.gc_start()
        marked = self.finish_marking()
        last = self.mark_termination()
        return marked, SweepResult.of_results(first, last)

    def take_sweeps(self) -> SweepResult:
        """Everything swept since the last call, as one result."""
        out, self.sweeps = self.sweeps, []
        return SweepResult.of_results(*out)


def collect(heap: GcHeap) -> MarkResult:
    """A stop-the-world cycle on `heap`: mark, then sweep. The heap is swept afterwards."""
    marker = mark_stw(heap)
    marked = sort_ids(heap.marked_ids())
    swept = sweep(heap)
    s = marker.stats
    return MarkResult(marked, swept.freed, swept.finalize, s.scanned_words, s.scan_items, s.slots_scanned)


def collect_snapshot(spec: HeapSpec, geometry: Geometry = AMD64) -> MarkResult:
    return collect(GcHeap.from_spec(spec, geometry=geometry))
