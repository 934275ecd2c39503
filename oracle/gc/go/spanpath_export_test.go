// Span-path driver, package runtime side (not part of the Go distribution).
//
// oracle/gc/spanpath.py overlays this file and spanpath_main_test.go on
// package runtime's test build (`go test -c -overlay`; GOROOT is never
// modified). It drives the real mallocgc, mcache, mcentral and sweeper of the
// running program, one operation at a time, and reads back where each object
// landed and the state of every span the operations use.
//
// Holding the runtime still (SpBegin, undone by SpEnd):
//
//   - GOMAXPROCS is 1 and each operation runs with preemption disabled
//     (acquirem), so no other goroutine allocates, sweeps or scavenges in
//     between; the collector's own goroutines run only inside SpGC.
//   - The collector runs only in SpGC: the caller has set GOGC off
//     (debug.SetGCPercent(-1)); SpGC is runtime.GC without its sweep loops.
//   - The background sweeper is held: while it is parked, sweep.parked is set
//     to false, so gcSweep never readies it. Sweeping is then lazy, done only
//     by allocation, the heap reclaimer, SpSweepOne (one sweepone call), and
//     sweep termination (SpFinishSweep, and the next SpGC's gcStart).
//   - Proportional sweeping is off: sweepPagesPerByte is set to 0 after every
//     cycle (with GOGC off it is vanishingly small anyway).
//   - The spans the program already had are set aside: P 0's mcache is
//     flushed and every span in the central lists is popped into a stash, so
//     the central lists hold only the driver's spans. The stash is swept (in
//     place, preserved) right after every cycle, before anything allocates,
//     so the reclaimer and the next cycle never meet an unswept stashed span.
//     SpEnd finishes sweeping and pushes the stash back.
//
// Objects are reachable only from spGlobals and spRegs (package variables).
// A scan object is allocated with the type of unsafe.Pointer repeated, so
// every word may hold a pointer and all are nil; a noscan object with no
// type. Sizes and types are the caller's (the oracle's trace).
//
// All top-level names start with sp or Sp so they cannot clash with package
// runtime.

package runtime

import "unsafe"

const (
	SpMaxGlobals = 1 << 12
	SpMaxRegs    = 8
	spMaxStash   = 1 << 16
	SpBitsWords  = 16 // 1024 slots
)

var (
	spGlobals  [SpMaxGlobals]unsafe.Pointer
	spRegs     [SpMaxRegs]unsafe.Pointer
	spStash    [spMaxStash]*mspan
	spNStash   int
	spHeld     bool
	spPtrType  = func() *_type { var p any = unsafe.Pointer(nil); return efaceOf(&p)._type }()
	spZeroAddr = uintptr(unsafe.Pointer(&zerobase))
)

// SpSpan is the state of one span after an operation.
type SpSpan struct {
	Base      uintptr
	Class     uint8
	NPages    uintptr
	SweepRel  int32 // span sweepgen minus mheap sweepgen
	FreeIndex uint16
	Count     uint16
	Nelems    uint16
	Where     int8 // -1 none, 0 cached by P 0, 1..4 set (see SpSetNames)
	PageMark  bool // the span's bit in its arena's pageMarks
	Bits      [SpBitsWords]uint64
}

// SpSetNames names Where values 1..4: set kind and role.
var SpSetNames = [5]string{"cache", "partial swept", "partial unswept", "full swept", "full unswept"}

// SpSetEntry is one live entry of a central set, in queue order.
type SpSetEntry struct {
	Class uint8
	Set   int8 // 1..4
	Base  uintptr
}

// SpTiny is P 0's tiny block (Base 0: none).
type SpTiny struct {
	Base   uintptr
	Index  uintptr
	Offset uintptr
}

// SpBegin sets the runtime up as described atop; "" or why it cannot.
func SpBegin() string {
	if gomaxprocs != 1 {
		return "GOMAXPROCS must be 1"
	}
	if gcController.gcPercent.Load() >= 0 {
		return "GOGC must be off (debug.SetGCPercent(-1))"
	}
	GC()
	for {
		lock(&sweep.lock)
		if sweep.parked {
			sweep.parked = false // the sweeper stays parked: gcSweep will not ready it
			spHeld = true
			unlock(&sweep.lock)
			break
		}
		unlock(&sweep.lock)
		Gosched()
	}
	mp := acquirem()
	var why string
	systemstack(func() {
		if !isSweepDone() {
			why = "sweeping is not done after GC"
			return
		}
		lock(&mheap_.lock)
		mheap_.sweepPagesPerByte = 0
		unlock(&mheap_.lock)
		mp.p.ptr().mcache.releaseAll()
		sg := mheap_.sweepgen
		for i := range mheap_.central {
			c := &mheap_.central[i].mcentral
			for _, set := range [4]*spanSet{c.partialSwept(sg), c.fullSwept(sg), c.partialUnswept(sg), c.fullUnswept(sg)} {
				for s := set.pop(); s != nil; s = set.pop() {
					if s.state.get() != mSpanInUse {
						continue
					}
					if spNStash == spMaxStash {
						why = "too many spans to set aside"
						return
					}
					spStash[spNStash] = s
					spNStash++
				}
			}
		}
	})
	releasem(mp)
	return why
}

// SpEnd finishes sweeping, gives the stash back and lets the sweeper run again.
func SpEnd() {
	for i := range spGlobals {
		spGlobals[i] = nil
	}
	for i := range spRegs {
		spRegs[i] = nil
	}
	mp := acquirem()
	systemstack(func() {
		spSweepStash()
		for sweepone() != ^uintptr(0) {
		}
		sg := mheap_.sweepgen
		for i := 0; i < spNStash; i++ {
			s := spStash[i]
			spStash[i] = nil
			c := &mheap_.central[s.spanclass].mcentral
			if s.spanclass.sizeclass() != 0 && s.allocCount < s.nelems {
				c.partialSwept(sg).push(s)
			} else {
				c.fullSwept(sg).push(s)
			}
		}
		spNStash = 0
	})
	releasem(mp)
	if spHeld {
		lock(&sweep.lock)
		sweep.parked = true
		unlock(&sweep.lock)
		spHeld = false
	}
}

// spSweepStash sweeps every unswept stashed span in place (kept out of the central lists); it reports
// whether it could (sweeping must not be done yet, or the spans could not be acquired).
func spSweepStash() bool {
	sg := mheap_.sweepgen
	sl := sweep.active.begin()
	ok := true
	for i := 0; i < spNStash; i++ {
		s := spStash[i]
		if s.state.get() != mSpanInUse || s.sweepgen != sg-2 {
			continue
		}
		if !sl.valid {
			ok = false
			continue
		}
		if ss, acquired := sl.tryAcquire(s); acquired {
			ss.sweep(true)
		} else {
			ok = false
		}
	}
	if sl.valid {
		sweep.active.end(sl)
	}
	return ok
}

// SpMalloc allocates size bytes (noscan: no pointers) into global g; the span's base address, slot and
// offset in the slot (past a malloc header) of the new object.
func SpMalloc(g int, size uintptr, noscan bool) (base, index, offset uintptr) {
	mp := acquirem()
	var typ *_type
	if !noscan {
		typ = spPtrType
	}
	x := mallocgc(size, typ, true)
	spGlobals[g] = x
	p := uintptr(x)
	if p == spZeroAddr {
		releasem(mp)
		return 0, 0, 0
	}
	s := spanOf(p)
	index = s.objIndex(p)
	offset = p - (s.base() + index*s.elemsize)
	if !noscan && size > 512 && s.spanclass.sizeclass() != 0 {
		offset -= 8 // the malloc header
	}
	releasem(mp)
	return s.base(), index, offset
}

// Register and global moves, as the trace's gload, gstore, load, store and copy (src -1 is nil).
func SpGLoad(dst, g int)              { spRegs[dst] = spGlobals[g] }
func SpGStore(g, src int)             { spGlobals[g] = spReg(src) }
func SpCopy(dst, src int)             { spRegs[dst] = spReg(src) }
func SpLoad(dst, src int, off uintptr) { spRegs[dst] = *(*unsafe.Pointer)(unsafe.Add(spRegs[src], off)) }
func SpStore(dst int, off uintptr, src int) {
	*(*unsafe.Pointer)(unsafe.Add(spRegs[dst], off)) = spReg(src)
}

func spReg(i int) unsafe.Pointer {
	if i < 0 {
		return nil
	}
	return spRegs[i]
}

// SpGC runs one whole cycle and returns with its spans left unswept (runtime.GC without its sweep
// loops); then it sweeps the stash and turns proportional sweeping off. "" or what went wrong.
func SpGC() string {
	n := work.cycles.Load()
	gcStart(gcTrigger{kind: gcTriggerCycle, n: n + 1})
	gcWaitOnMark(n + 1)
	mp := acquirem()
	var why string
	systemstack(func() {
		lock(&mheap_.lock)
		mheap_.sweepPagesPerByte = 0
		unlock(&mheap_.lock)
		c := mp.p.ptr().mcache
		if c.flushGen.Load() != mheap_.sweepgen || c.tiny != 0 {
			why = "P 0's mcache was not flushed at mark termination"
		}
		for i := range c.alloc {
			if c.alloc[i] != &emptymspan {
				why = "P 0's mcache holds a span after mark termination"
			}
		}
		if sweep.parked || isSweepDone() {
			why = "the background sweeper ran"
		}
		if !spSweepStash() {
			why = "the set-aside spans could not be swept"
		}
	})
	releasem(mp)
	return why
}

// SpSweepOne is one step of the background sweeper: sweepone's pages, or -1 when nothing was left.
func SpSweepOne() int64 {
	mp := acquirem()
	var n uintptr
	systemstack(func() { n = sweepone() })
	releasem(mp)
	if n == ^uintptr(0) {
		return -1
	}
	return int64(n)
}

// SpFinishSweep is sweep termination: sweepone until nothing is left; how many spans it swept.
func SpFinishSweep() int {
	mp := acquirem()
	count := 0
	systemstack(func() {
		for sweepone() != ^uintptr(0) {
			count++
		}
	})
	releasem(mp)
	return count
}

// SpArenas fills out with the heap's arenas' base addresses in Go's order; how many.
func SpArenas(out []uintptr) int {
	n := 0
	for _, ai := range mheap_.heapArenas {
		if n < len(out) {
			out[n] = arenaBase(ai)
		}
		n++
	}
	return n
}

// SpDump fills spans with every span P 0 caches or the central lists hold (live entries), sets with
// the live entries of every central set in queue order, and tiny with P 0's tiny block. It returns
// the counts, or -1 if a buffer is too small. It allocates nothing.
func SpDump(spans []SpSpan, sets []SpSetEntry, tiny *SpTiny) (nspans, nsets int) {
	mp := acquirem()
	defer releasem(mp)
	sg := mheap_.sweepgen
	c := mp.p.ptr().mcache
	*tiny = SpTiny{}
	if c.tiny != 0 {
		s := spanOf(c.tiny)
		*tiny = SpTiny{s.base(), s.objIndex(c.tiny), c.tinyoffset}
	}
	add := func(s *mspan, where int8) bool {
		if nspans == len(spans) {
			return false
		}
		st := &spans[nspans]
		arena, pageIdx, pageMask := pageIndexOf(s.base())
		*st = SpSpan{Base: s.base(), Class: uint8(s.spanclass), NPages: s.npages,
			SweepRel: int32(s.sweepgen - sg), FreeIndex: s.freeindex, Count: s.allocCount,
			Nelems: s.nelems, Where: where, PageMark: arena.pageMarks[pageIdx]&pageMask != 0}
		for i := uintptr(0); i < uintptr(s.nelems) && i < SpBitsWords*64; i++ {
			if *s.allocBits.bytep(i/8)&(1<<(i%8)) != 0 {
				st.Bits[i/64] |= 1 << (i % 64)
			}
		}
		nspans++
		return true
	}
	for i := range c.alloc {
		if s := c.alloc[i]; s != &emptymspan {
			if !add(s, 0) {
				return -1, -1
			}
		}
	}
	for i := range mheap_.central {
		cen := &mheap_.central[i].mcentral
		for k, set := range [4]*spanSet{cen.partialSwept(sg), cen.partialUnswept(sg), cen.fullSwept(sg), cen.fullUnswept(sg)} {
			swept := k%2 == 0
			head, tail := set.index.load().split()
			spine := set.spine.Load()
			for j := head; j < tail; j++ {
				top, bottom := uintptr(j)/spanSetBlockEntries, uintptr(j)%spanSetBlockEntries
				if top >= set.spineLen.Load() {
					break
				}
				block := spine.lookup(top).Load()
				if block == nil {
					continue
				}
				s := block.spans[bottom].Load()
				if s == nil {
					continue
				}
				if !swept && (s.state.get() != mSpanInUse || s.sweepgen != sg-2) {
					continue // stale: swept elsewhere or freed since it was pushed
				}
				if nsets == len(sets) || !add(s, int8(k+1)) {
					return -1, -1
				}
				sets[nsets] = SpSetEntry{uint8(i), int8(k + 1), s.base()}
				nsets++
			}
		}
	}
	return nspans, nsets
}

// SpPagesPerArena is the pages of one heap arena (the reclaimer walks arenas 512 pages at a time).
const SpPagesPerArena = pagesPerArena
