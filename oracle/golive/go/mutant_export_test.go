// Test-only hooks of the systematic mutants (not part of the Go distribution).
//
// oracle/golive/systematic.py adds this file to package runtime's test build
// together with mutant_gate.go (the gate) and the instrumented page
// allocator. It selects the mutant in effect, gates Go's own tests, and
// gives the live driver (live_alloc_mutant_test.go) its calls into a
// test-mode allocator with the gate open exactly around the allocator's own
// code: on the system stack, with the allocator's lock held as the runtime
// holds it, and with everything that allocates from the Go heap (making the
// allocator, stopping the world for substitute page sizes) outside.

package runtime

// MutantSelect makes mutant id the one in effect (0: none). Call it once, before any gate opens.
func MutantSelect(id int32) { mutantSelected = id }

// MutantGate is the gate's state, as MutantTestGate found it.
type MutantGate struct {
	goid     uint64
	children bool
}

// MutantTestGate opens the gate for the calling goroutine and the goroutines
// it starts (a test body and, say, the scavenger a test runs) and returns
// the gate as it was, for MutantTestUngate:
//
//	defer MutantTestUngate(MutantTestGate())
func MutantTestGate() MutantGate {
	was := MutantGate{mutantGoid, mutantChildren}
	mutantGoid, mutantChildren = getg().goid, true
	return was
}

// MutantTestUngate restores the gate as MutantTestGate found it.
func MutantTestUngate(was MutantGate) { mutantGoid, mutantChildren = was.goid, was.children }

// mutantEnter opens the gate for the goroutine on whose behalf the system stack runs; mutantExit closes it.
func mutantEnter() { mutantGoid, mutantChildren = getg().m.curg.goid, false }

func mutantExit() { mutantGoid = 0 }

// MutantNewPageAlloc is TraceGenNewPageAlloc with the allocator's init gated.
func MutantNewPageAlloc() *PageAlloc {
	p := new(pageAlloc)
	mu := new(mutex)
	systemstack(func() {
		mutantEnter()
		p.init(mu, testSysStat, true)
		mutantExit()
	})
	lockInit(p.mheapLock, lockRankMheap)
	return (*PageAlloc)(p)
}

// MutantGrow is TraceGenGrow, gated.
func (p *PageAlloc) MutantGrow(base, size uintptr) {
	pp := (*pageAlloc)(p)
	systemstack(func() {
		lock(pp.mheapLock)
		mutantEnter()
		pp.grow(base, size)
		mutantExit()
		unlock(pp.mheapLock)
	})
}

// MutantAlloc is PageAlloc.Alloc, gated.
func (p *PageAlloc) MutantAlloc(npages uintptr) (addr, scav uintptr) {
	pp := (*pageAlloc)(p)
	systemstack(func() {
		lock(pp.mheapLock)
		mutantEnter()
		addr, scav = pp.alloc(npages)
		mutantExit()
		unlock(pp.mheapLock)
	})
	return
}

// MutantFree is PageAlloc.Free, gated.
func (p *PageAlloc) MutantFree(base, npages uintptr) {
	pp := (*pageAlloc)(p)
	systemstack(func() {
		lock(pp.mheapLock)
		mutantEnter()
		pp.free(base, npages)
		mutantExit()
		unlock(pp.mheapLock)
	})
}

// MutantAllocToCache is PageAlloc.AllocToCache, gated.
func (p *PageAlloc) MutantAllocToCache() (c PageCache) {
	pp := (*pageAlloc)(p)
	systemstack(func() {
		lock(pp.mheapLock)
		mutantEnter()
		c = PageCache(pp.allocToCache())
		mutantExit()
		unlock(pp.mheapLock)
	})
	return
}

// MutantCacheAlloc is PageCache.Alloc, gated (on the system stack, like the rest).
func (c *PageCache) MutantCacheAlloc(npages uintptr) (addr, scav uintptr) {
	systemstack(func() {
		mutantEnter()
		addr, scav = (*pageCache)(c).alloc(npages)
		mutantExit()
	})
	return
}

// MutantCacheFlush is PageCache.Flush, gated.
func (c *PageCache) MutantCacheFlush(s *PageAlloc) {
	cp := (*pageCache)(c)
	sp := (*pageAlloc)(s)
	systemstack(func() {
		lock(sp.mheapLock)
		mutantEnter()
		cp.flush(sp)
		mutantExit()
		unlock(sp.mheapLock)
	})
}

// MutantScavenge is TraceGenScavenge (force) or TraceGenScavengeBg, gated;
// the world is stopped and restarted outside the gate.
func (p *PageAlloc) MutantScavenge(nbytes uintptr, force, override bool, phys, huge uintptr) (r uintptr) {
	pp := (*pageAlloc)(p)
	run := func() {
		systemstack(func() {
			mutantEnter()
			r = pp.scavenge(nbytes, nil, force)
			mutantExit()
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

// MutantNextGen is TraceGenNextGen, gated.
func (p *PageAlloc) MutantNextGen() {
	pp := (*pageAlloc)(p)
	systemstack(func() {
		lock(pp.mheapLock)
		mutantEnter()
		pp.scav.index.nextGen()
		mutantExit()
		unlock(pp.mheapLock)
	})
}

// MutantPad marks pages in use and scavenged as the heap pads its first growth, gated.
func (p *PageAlloc) MutantPad(base, npages uintptr) {
	pp := (*pageAlloc)(p)
	systemstack(func() {
		lock(pp.mheapLock)
		mutantEnter()
		pp.markRandomPaddingPages(base, npages)
		mutantExit()
		unlock(pp.mheapLock)
	})
}
