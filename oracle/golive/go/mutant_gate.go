// The gate of the systematic mutants (not part of the Go distribution).
//
// oracle/golive/systematic.py adds this file to package runtime, with
// `go test -overlay`, next to copies of the page allocator's sources in
// which oracle/golive/go/mutgen has compiled in every mutant, each behind
// mutOn(id) (or mutIn for a condition's original). A mutant's code runs only
// when both hold:
//
//   - it is the selected one: mutantSelected == id, set once at start-up from
//     $PAGEALLOC_MUTANT (0, the default, selects none: the pristine runtime);
//   - the code runs on behalf of the gated goroutine: the current user
//     goroutine (getg().m.curg, so on the system stack too) is mutantGoid,
//     or, when mutantChildren is set, a goroutine it started; and that
//     goroutine is running its own code, not allocating (m.mallocing) nor
//     having its stack copied or assisting the GC (its status is not
//     _Grunning then), which is when the runtime's own heap is at work.
//
// The live driver opens the gate only around each call into its test-mode
// allocator, on the system stack, where nothing allocates from the Go heap
// (mutant_export_test.go); Go's own tests open it for each test body. The
// instrumented code also checks, where a receiver says so, that the
// allocator is a test-mode one (p.test).
//
// Invariants: mutantSelected is written once, before any goroutine is gated;
// mutantGoid and mutantChildren are written only by the gated goroutine (or
// on its behalf, on the system stack), so a reader on another goroutine sees
// a goroutine id that is not its own.

package runtime

// mutantSelected is the id of the mutant in effect (0: none).
var mutantSelected int32

// mutantGoid is the goroutine the gate is open for (0: closed).
var mutantGoid uint64

// mutantChildren also admits the goroutines mutantGoid started.
var mutantChildren bool

// mutOn reports whether mutant k's code runs here.
//
//go:nosplit
func mutOn(k int32) bool {
	return mutantSelected == k && mutGated()
}

// mutIn reports whether the mutant in effect is one of lo..hi and its code runs here.
//
//go:nosplit
func mutIn(lo, hi int32) bool {
	return lo <= mutantSelected && mutantSelected <= hi && mutGated()
}

//go:nosplit
func mutGated() bool {
	mp := getg().m
	gp := mp.curg
	if gp == nil || mutantGoid == 0 || mp.mallocing != 0 {
		return false
	}
	if gp.goid != mutantGoid && !(mutantChildren && gp.parentGoid == mutantGoid) {
		return false
	}
	return readgstatus(gp)&^_Gscan == _Grunning
}
