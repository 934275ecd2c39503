// The stubs of trace op scavenger_wake, shared by the live driver and the
// trace generator (not part of the Go distribution).
//
// oracle/golive/driver.py and oracle/golive/tracegen.py add this file to
// package runtime's test build next to live_scavenger_export_test.go, whose
// runtime.LiveScavenger runs a scavengerState of its own. Its stubs are made
// here, in package runtime_test, because package runtime may not build
// closures that escape to the heap (SPEC.md, "The background scavenger"):
//
//   - scavenge(n) is the allocator's background scavenge (TraceGenScavengeBg:
//     with the header's page sizes substituted, the world stopped, when they
//     differ from the runtime's), taking nsPerPage ns per page released;
//   - shouldStop is true once the wake's scavenges released budget bytes;
//   - the sleep stub sleeps n*sleepPct/100 ns (nothing really sleeps);
//   - gomaxprocs is procs.
//
// The stubs run on the scavenger's goroutine only while a wake waits for it,
// so the fields below are never touched by two goroutines at once.

package runtime_test

import (
	"runtime"
	"strconv"
)

// lvScavenger is a background scavenger and the state of its stubs.
type lvScavenger struct {
	g         *runtime.LiveScavenger
	budget    uintptr // bytes
	scavenged uintptr // bytes the scavenge stub released in the wake in progress
	nsPerPage int64
	sleepPct  int64
	procs     int32
	slept     int64 // ns the sleep stub reported in the wake in progress
}

// lvScavengerStart starts a runtime.LiveScavenger with the given stubs (the
// live driver's gates it in the mutant build); nil if it did not park.
type lvScavengerStart func(sleep func(int64) int64, scavenge func(uintptr) (uintptr, int64), shouldStop func() bool,
	gomaxprocs func() int32) *runtime.LiveScavenger

// newLvScavenger starts a scavenger over pa's background scavenge; nil if it did not park.
func newLvScavenger(pa *runtime.PageAlloc, override bool, phys, huge uintptr, start lvScavengerStart) *lvScavenger {
	sc := &lvScavenger{}
	sc.g = start(
		func(n int64) int64 {
			slept := n * sc.sleepPct / 100
			sc.slept += slept
			return slept
		},
		func(n uintptr) (uintptr, int64) {
			r := pa.TraceGenScavengeBg(n, override, phys, huge)
			sc.scavenged += r
			return r, int64(r/runtime.PageSize) * sc.nsPerPage
		},
		func() bool { return sc.scavenged >= sc.budget },
		func() int32 { return sc.procs },
	)
	if sc.g == nil {
		return nil
	}
	return sc
}

// wake runs one wake (through wake, which may gate it) with the stubs'
// inputs; ok is false if the goroutine did not park again.
func (sc *lvScavenger) wake(budget uintptr, nsPerPage, sleepPct int64, procs int32,
	wake func(*runtime.LiveScavenger) (runtime.LiveWake, bool)) (runtime.LiveWake, bool) {
	sc.budget, sc.scavenged, sc.nsPerPage, sc.sleepPct, sc.procs, sc.slept = budget, 0, nsPerPage, sleepPct, procs, 0
	return wake(sc.g)
}

// appendWake appends a wake's answer in expect form: the pages its runs
// released, the runs, the ns slept, and the pacing state it left.
func (sc *lvScavenger) appendWake(b []byte, w runtime.LiveWake) []byte {
	b = append(b, `{"released": `...)
	b = strconv.AppendUint(b, uint64(w.Released/runtime.PageSize), 10)
	b = append(b, `, "runs": `...)
	b = strconv.AppendInt(b, w.Runs, 10)
	b = append(b, `, "slept": `...)
	b = strconv.AppendInt(b, sc.slept, 10)
	b = append(b, `, "ratio": `...)
	b = strconv.AppendFloat(b, w.Ratio, 'g', -1, 64)
	b = append(b, `, "cooldown": `...)
	b = strconv.AppendInt(b, w.Cooldown, 10)
	b = append(b, `, "integral": `...)
	b = strconv.AppendFloat(b, w.Integral, 'g', -1, 64)
	return append(b, '}')
}
