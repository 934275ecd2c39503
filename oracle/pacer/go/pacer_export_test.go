// Test-only hooks for the pacing trace generator.
//
// This file is not part of the Go distribution. oracle/pacer/gotrace.py adds
// it to package runtime with `go test -overlay`, next to export_test.go. It
// exposes one thing: a snapshot of the live runtime's pacer, taken with the
// world stopped, optionally around a commit (what debug.SetGCPercent does
// under the heap lock, with the same value), plus a wait for a running mark
// phase to end. Everything it reports is read, never changed, except by that
// commit. All I/O lives in pacer_main_test.go (package runtime_test).

package runtime

// PacerSnapshot is the pacer's inputs and decisions at one moment.
type PacerSnapshot struct {
	// Settings.
	GCPercent   int64
	MemoryLimit int64
	HeapMinimum uint64

	// The last cycle's measurements and the running cycle's start.
	HeapMarked    uint64
	LastHeapScan  uint64
	LastStackScan uint64
	GlobalsScan   uint64
	ConsMark      float64
	Triggered     uint64
	LastHeapGoal  uint64
	LastHeapInUse uint64

	// Memory statistics (the memory limit's and the scavenger's inputs).
	HeapLive     uint64
	HeapInUse    uint64
	HeapFree     uint64
	HeapReleased uint64
	HeapAlloc    uint64
	MappedReady  uint64
	SweepDone    bool // isSweepDone() before the commit

	// Decisions: committed values, then what the pacer computes from them now.
	GCPercentHeapGoal   uint64
	SweepDistMinTrigger uint64
	Runway              uint64
	HeapGoal            uint64
	MemoryLimitHeapGoal uint64
	Trigger             uint64
	ScavGCPercentGoal   uint64
	ScavMemLimitGoal    uint64

	// Where the collector is.
	Marking        bool
	Cycles         uint32
	LastGCNanotime int64
	Now            int64
}

// PacerRead fills s with the world stopped. With commit set it commits the
// pacing between reading the inputs and reading the decisions, exactly as
// gcControllerCommit runs from debug.SetGCPercent.
func PacerRead(s *PacerSnapshot, commit bool) {
	stw := stopTheWorld(stwForTestReadMemStatsSlow)
	systemstack(func() {
		lock(&mheap_.lock)
		c := &gcController
		s.SweepDone = isSweepDone()
		if commit {
			gcControllerCommit()
		}
		s.GCPercent = int64(c.gcPercent.Load())
		s.MemoryLimit = c.memoryLimit.Load()
		s.HeapMinimum = c.heapMinimum
		s.HeapMarked = c.heapMarked
		s.LastHeapScan = c.lastHeapScan
		s.LastStackScan = c.lastStackScan.Load()
		s.GlobalsScan = c.globalsScan.Load()
		s.ConsMark = c.consMark
		s.Triggered = c.triggered
		s.LastHeapGoal = c.lastHeapGoal
		s.LastHeapInUse = memstats.lastHeapInUse
		s.HeapLive = c.heapLive.Load()
		s.HeapInUse = c.heapInUse.load()
		s.HeapFree = c.heapFree.load()
		s.HeapReleased = c.heapReleased.load()
		s.HeapAlloc = c.totalAlloc.Load() - c.totalFree.Load()
		s.MappedReady = c.mappedReady.Load()
		s.GCPercentHeapGoal = c.gcPercentHeapGoal.Load()
		s.SweepDistMinTrigger = c.sweepDistMinTrigger.Load()
		s.Runway = c.runway.Load()
		s.Trigger, s.HeapGoal = c.trigger()
		s.MemoryLimitHeapGoal = c.memoryLimitHeapGoal()
		s.ScavGCPercentGoal = scavenge.gcPercentGoal.Load()
		s.ScavMemLimitGoal = scavenge.memoryLimitGoal.Load()
		s.Marking = gcphase != _GCoff
		s.Cycles = work.cycles.Load()
		s.LastGCNanotime = int64(memstats.last_gc_nanotime)
		s.Now = nanotime()
		unlock(&mheap_.lock)
	})
	startTheWorld(stw)
}

// PacerWaitMark blocks until no mark phase is running (gcWaitOnMark for the
// current cycle).
func PacerWaitMark() {
	gcWaitOnMark(work.cycles.Load())
}
