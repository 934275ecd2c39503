// Test-only hooks for the live page-allocator driver (not part of the Go
// distribution).
//
// oracle/golive/driver.py adds this file, tracegen_export_test.go (whose hooks it
// reuses: an empty test-mode allocator, a locked grow, the live page sizes,
// scavenges under substitute page sizes, nextGen and the hidden state) and
// live_main_test.go to package runtime's test build with `go test -overlay`.
// The hooks here only read the allocator, so that the driver can refuse an
// impossible operation (a grow over mapped memory, a free of a page that is
// free or unmapped) before the runtime would throw or corrupt itself.

package runtime

// LiveRangeUnmapped reports whether no byte of [base, limit) is in the
// allocator's in-use address ranges, i.e. whether grow may add it.
func (p *PageAlloc) LiveRangeUnmapped(base, limit uintptr) bool {
	pp := (*pageAlloc)(p)
	if len(pp.inUse.ranges) == 0 {
		return true
	}
	addr, ok := pp.inUse.findAddrGreaterEqual(base)
	return !ok || addr >= limit
}

// LiveCheckFree checks that every page of [base, base+npages*pageSize) is
// mapped and allocated. It returns the first page that is not, with
// problem 1 (not mapped) or 2 (free); problem 0 means the free is valid.
func (p *PageAlloc) LiveCheckFree(base, npages uintptr) (addr uintptr, problem int) {
	pp := (*pageAlloc)(p)
	for i := uintptr(0); i < npages; i++ {
		a := base + i*pageSize
		if !pp.inUse.contains(a) {
			return a, 1
		}
		chunk := pp.chunkOf(chunkIndex(a))
		if (*pageBits)(&chunk.pallocBits).get(chunkPageIndex(a)) == 0 {
			return a, 2
		}
	}
	return 0, 0
}

// LiveCheckUnused checks that every page of [base, base+npages*pageSize) is
// mapped and free. It returns the first page that is not, with problem 1
// (not mapped) or 2 (in use); problem 0 means every page is mapped and free.
func (p *PageAlloc) LiveCheckUnused(base, npages uintptr) (addr uintptr, problem int) {
	pp := (*pageAlloc)(p)
	for i := uintptr(0); i < npages; i++ {
		a := base + i*pageSize
		if !pp.inUse.contains(a) {
			return a, 1
		}
		chunk := pp.chunkOf(chunkIndex(a))
		if (*pageBits)(&chunk.pallocBits).get(chunkPageIndex(a)) != 0 {
			return a, 2
		}
	}
	return 0, 0
}
