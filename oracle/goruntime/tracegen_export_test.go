// Test-only hooks for the page-allocator trace generator.
//
// This file is not part of the Go distribution. oracle/gotracegen.py adds it
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

// TraceGenState reports the allocator's search hint and the forced
// scavenge cursor, so traces can record them for the model to be checked
// against. ok is false for a hint at the "heap full" sentinel and for a
// cleared cursor.
func (p *PageAlloc) TraceGenState() (search uintptr, searchOK bool, force uintptr, forceOK, forceMarked bool) {
	pp := (*pageAlloc)(p)
	search = pp.searchAddr.addr()
	searchOK = search != maxSearchAddr().addr()
	force, forceMarked = pp.scav.index.searchAddrForce.Load()
	forceOK = force != minOffAddr.addr()
	return
}
