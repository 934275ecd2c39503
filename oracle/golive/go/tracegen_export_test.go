// Test-only hooks for the page-allocator trace generator.
//
// This file is not part of the Go distribution. oracle/golive/tracegen.py adds it
// to package runtime with `go test -overlay`, next to export_test.go, and it
// only exposes the few things export_test.go does not: an empty (never grown)
// test-mode page allocator, a grow call taking the heap lock, the live
// physical / huge page sizes, and a scavenge that can run under substitute
// page sizes. All I/O lives in tracegen_main_test.go (package runtime_test).

package runtime

// TraceGenNewPageAlloc returns a test-mode page allocator with no chunks.
// Unlike NewPageAlloc it performs no grow, so the caller decides where and
// when memory enters the heap.
func TraceGenNewPageAlloc() *PageAlloc {
	p := new(pageAlloc)
	p.init(new(mutex), testSysStat, true)
	lockInit(p.mheapLock, lockRankMheap)
	return (*PageAlloc)(p)
}

// TraceChunkSpace says where a trace's chunks lie (model/geometry.py, Arch):
// trace chunk C is the allocator's chunk origin+C, and a trace may grow trace
// chunks [first, limit). On 64-bit platforms origin is BaseChunkIdx, as in
// Go's own tests, and the range runs to the top of the address space. On
// 32-bit ones origin is 0, so a trace reaches every summary of the tree; the
// range leaves out chunk 0 (its first page is address 0, which alloc returns
// for failure) and the last chunk (its limit, 1<<32, does not fit a uintptr:
// grow throws on it, and the heap never maps it).
func TraceChunkSpace() (origin, first, limit uintptr) {
	chunks := uintptr(1) << (heapAddrBits - logPallocChunkBytes)
	if pageAlloc64Bit != 0 {
		return uintptr(BaseChunkIdx), 0, chunks - uintptr(BaseChunkIdx)
	}
	return 0, 1, chunks - 1
}

// TraceMaxPages bounds the page count of one operation: below the address
// space's pages on 32-bit platforms (so that its bytes fit a uintptr), and
// 1<<40 on 64-bit ones.
func TraceMaxPages() int64 {
	if pageAlloc64Bit != 0 {
		return 1 << 40
	}
	return int64(uintptr(1)<<(heapAddrBits-logPallocChunkBytes))*pallocChunkPages - 1
}

// TraceRootChunks is the number of chunks one root-level summary covers.
func TraceRootChunks() int {
	return 1 << (levelLogPages[0] - logPallocChunkPages)
}

// TraceGenGrow calls pageAlloc.grow(base, size) with the allocator's lock
// held, exactly as the heap does when it maps new memory.
func (p *PageAlloc) TraceGenGrow(base, size uintptr) {
	pp := (*pageAlloc)(p)
	systemstack(func() {
		lock(pp.mheapLock)
		pp.grow(base, size)
		unlock(pp.mheapLock)
	})
}

// TraceGenPageSizes reports the current physPageSize and physHugePageSize.
func TraceGenPageSizes() (phys, huge uintptr) {
	return physPageSize, physHugePageSize
}

// TraceGenScavenge is PageAlloc.Scavenge (a forced scavenge), except that
// when override is set the scavenge runs with physPageSize and
// physHugePageSize temporarily replaced by phys and huge. The replacement is
// done with the world stopped and undone before it restarts, so no other
// goroutine ever sees the substitute values. A test-mode allocator makes no
// system calls when scavenging, so the substitute sizes only change which
// pages are chosen.
func (p *PageAlloc) TraceGenScavenge(nbytes uintptr, override bool, phys, huge uintptr) uintptr {
	if !override {
		return p.Scavenge(nbytes)
	}
	stw := stopTheWorld(stwForTestPageCachePagesLeaked)
	savedPhys, savedHuge := physPageSize, physHugePageSize
	physPageSize, physHugePageSize = phys, huge
	r := p.Scavenge(nbytes)
	physPageSize, physHugePageSize = savedPhys, savedHuge
	startTheWorld(stw)
	return r
}

// TraceGenState reports the allocator's search hint and both scavenge
// cursors, so traces can record them for the model to be checked against.
// ok is false for a hint at the "heap full" sentinel and for a cleared cursor.
type TraceGenHidden struct {
	Search                uintptr
	SearchOK              bool
	Force, Bg             uintptr
	ForceOK, BgOK         bool
	ForceMarked, BgMarked bool
}

func (p *PageAlloc) TraceGenState() TraceGenHidden {
	pp := (*pageAlloc)(p)
	var h TraceGenHidden
	h.Search = pp.searchAddr.addr()
	h.SearchOK = h.Search != maxSearchAddr().addr()
	h.Force, h.ForceMarked = pp.scav.index.searchAddrForce.Load()
	h.ForceOK = h.Force != minOffAddr.addr()
	h.Bg, h.BgMarked = pp.scav.index.searchAddrBg.Load()
	h.BgOK = h.Bg != minOffAddr.addr()
	return h
}

// TraceGenPad marks [base, base+npages*pageSize) in use and scavenged with
// the allocator's lock held, as the heap pads the base of its first growth
// (markRandomPaddingPages).
func (p *PageAlloc) TraceGenPad(base, npages uintptr) {
	pp := (*pageAlloc)(p)
	systemstack(func() {
		lock(pp.mheapLock)
		pp.markRandomPaddingPages(base, npages)
		unlock(pp.mheapLock)
	})
}

// TraceGenNextGen ends a GC cycle for the scavenge index, as mark
// termination does.
func (p *PageAlloc) TraceGenNextGen() {
	pp := (*pageAlloc)(p)
	systemstack(func() {
		lock(pp.mheapLock)
		pp.scav.index.nextGen()
		unlock(pp.mheapLock)
	})
}

// TraceGenScavengeBg is the background scavenger's kind of scavenge: not
// forced, so the index skips dense chunks and uses the background cursor.
func (p *PageAlloc) TraceGenScavengeBg(nbytes uintptr, override bool, phys, huge uintptr) (r uintptr) {
	pp := (*pageAlloc)(p)
	run := func() {
		systemstack(func() {
			r = pp.scavenge(nbytes, nil, false)
		})
	}
	if !override {
		run()
		return
	}
	stw := stopTheWorld(stwForTestPageCachePagesLeaked)
	savedPhys, savedHuge := physPageSize, physHugePageSize
	physPageSize, physHugePageSize = phys, huge
	run()
	physPageSize, physHugePageSize = savedPhys, savedHuge
	startTheWorld(stw)
	return
}
