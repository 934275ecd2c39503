// The live driver's view of its test-mode allocator in the systematic-mutant
// build (not part of the Go distribution).
//
// oracle/golive/systematic.py overlays this file in place of
// live_alloc_test.go. It selects the mutant in effect from
// $PAGEALLOC_MUTANT (0 or unset: none) for the whole test binary, the live
// driver and Go's own tests alike, and routes each of the live driver's
// calls into its allocator through mutant_export_test.go, which opens the
// gate exactly around the allocator's code. Calls not routed here (the
// driver's read-only checks and state probes) run pristine.
//
// A watchdog turns a call that runs for more than lvHangLimit (a mutant that
// loops forever) into a fatal error, so the oracle sees a crash pinned to the
// operation instead of waiting out its answer deadline.

package runtime_test

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"
)

const lvMutantEnv = "PAGEALLOC_MUTANT"

const lvHangLimit = 2 * time.Second

// lvCallStart is when the call into the allocator now running began (0: none is running).
var lvCallStart atomic.Int64

func init() {
	v := os.Getenv(lvMutantEnv)
	if v == "" {
		return
	}
	id, err := strconv.ParseInt(v, 10, 32)
	if err != nil || id < 0 {
		fmt.Fprintf(os.Stderr, "%s=%q is not a mutant id\n", lvMutantEnv, v)
		os.Exit(2)
	}
	runtime.MutantSelect(int32(id))
	go lvWatchdog(id)
}

func lvWatchdog(id int64) {
	for {
		time.Sleep(lvHangLimit / 10)
		if start := lvCallStart.Load(); start != 0 && time.Now().UnixNano()-start > int64(lvHangLimit) {
			fmt.Fprintf(os.Stderr, "fatal error: mutant %d: a call into the allocator ran for more than %v\n", id, lvHangLimit)
			os.Exit(3)
		}
	}
}

func lvEnter() { lvCallStart.Store(time.Now().UnixNano()) }

func lvExit() { lvCallStart.Store(0) }

type lvAlloc struct{ *runtime.PageAlloc }

type lvCache struct{ runtime.PageCache }

func lvNewAlloc() lvAlloc {
	lvEnter()
	defer lvExit()
	return lvAlloc{runtime.MutantNewPageAlloc()}
}

func (p lvAlloc) TraceGenGrow(base, size uintptr) {
	lvEnter()
	p.MutantGrow(base, size)
	lvExit()
}

func (p lvAlloc) Alloc(npages uintptr) (addr, scav uintptr) {
	lvEnter()
	addr, scav = p.MutantAlloc(npages)
	lvExit()
	return
}

func (p lvAlloc) Free(base, npages uintptr) {
	lvEnter()
	p.MutantFree(base, npages)
	lvExit()
}

func (p lvAlloc) AllocToCache() lvCache {
	lvEnter()
	defer lvExit()
	return lvCache{p.MutantAllocToCache()}
}

func (p lvAlloc) TraceGenScavenge(nbytes uintptr, override bool, phys, huge uintptr) (r uintptr) {
	lvEnter()
	r = p.MutantScavenge(nbytes, true, override, phys, huge)
	lvExit()
	return
}

func (p lvAlloc) TraceGenScavengeBg(nbytes uintptr, override bool, phys, huge uintptr) (r uintptr) {
	lvEnter()
	r = p.MutantScavenge(nbytes, false, override, phys, huge)
	lvExit()
	return
}

func (p lvAlloc) TraceGenNextGen() {
	lvEnter()
	p.MutantNextGen()
	lvExit()
}

func (c *lvCache) Alloc(npages uintptr) (addr, scav uintptr) {
	lvEnter()
	addr, scav = c.MutantCacheAlloc(npages)
	lvExit()
	return
}

func (c *lvCache) Flush(p lvAlloc) {
	lvEnter()
	c.MutantCacheFlush(p.PageAlloc)
	lvExit()
}

func (p lvAlloc) LivePad(base, npages uintptr) {
	lvEnter()
	p.MutantPad(base, npages)
	lvExit()
}

// The background scavenger's goroutine is started by, and runs for, the
// driver's goroutine: the gate is open for it and its children while it
// starts and through each wake, so its scavengerState and the allocator's
// scavenge (which its stub calls directly, not through the gated calls
// above) run mutated; the driver's own waiting touches neither.
func lvNewScavenger(sleep func(int64) int64, scavenge func(uintptr) (uintptr, int64), shouldStop func() bool,
	procs func() int32) *runtime.LiveScavenger {
	lvEnter()
	was := runtime.MutantTestGate()
	s := runtime.NewLiveScavenger(sleep, scavenge, shouldStop, procs, lvParkTimeout)
	runtime.MutantTestUngate(was)
	lvExit()
	return s
}

func lvScavengerWake(s *runtime.LiveScavenger) (w runtime.LiveWake, ok bool) {
	lvEnter()
	was := runtime.MutantTestGate()
	w, ok = s.Wake(lvParkTimeout)
	runtime.MutantTestUngate(was)
	lvExit()
	return
}
