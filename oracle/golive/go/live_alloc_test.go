// The live driver's view of its test-mode allocator (not part of the Go
// distribution).
//
// live_main_test.go calls the allocator through lvAlloc and lvCache, which
// embed the runtime's test types. In this file, added to every live driver
// build, they only pass the calls on. The systematic-mutant build
// (oracle/golive/systematic.py) puts live_alloc_mutant_test.go in this
// file's place, whose methods gate each call into the allocator; a method
// not defined there stays the runtime's own, ungated (pristine) call.

package runtime_test

import "runtime"

type lvAlloc struct{ *runtime.PageAlloc }

type lvCache struct{ runtime.PageCache }

func lvNewAlloc() lvAlloc { return lvAlloc{runtime.TraceGenNewPageAlloc()} }

func (p lvAlloc) AllocToCache() lvCache { return lvCache{p.PageAlloc.AllocToCache()} }

func (c *lvCache) Flush(p lvAlloc) { c.PageCache.Flush(p.PageAlloc) }

func (p lvAlloc) LivePad(base, npages uintptr) { p.PageAlloc.TraceGenPad(base, npages) }

func lvNewScavenger(sleep func(int64) int64, scavenge func(uintptr) (uintptr, int64), shouldStop func() bool,
	procs func() int32) *runtime.LiveScavenger {
	return runtime.NewLiveScavenger(sleep, scavenge, shouldStop, procs, lvParkTimeout)
}

func lvScavengerWake(s *runtime.LiveScavenger) (runtime.LiveWake, bool) { return s.Wake(lvParkTimeout) }
