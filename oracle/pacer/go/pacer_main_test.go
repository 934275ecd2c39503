// The pacing trace generator: drives the live runtime's garbage collector and
// records what its pacer decided, as JSON Lines traces (pacer trace format v1,
// SPEC.md Part III).
//
// This file is not part of the Go distribution. oracle/pacer/gotrace.py adds
// it (with pacer_export_test.go) to package runtime's test build with
// `go test -c -overlay`. TestPacerTraceGen is a no-op unless PACER_TRACEGEN_SPEC
// names a JSON spec: {"traces": [{"out": PATH, "profile": NAME, "seed": N,
// "steps": N, "force_gc_period_ns": N or 0}]}.
//
// Each profile sets GOGC and the memory limit, allocates live data in large
// blocks (so the live heap grows by exactly their size), drops some of it,
// forces cycles with runtime.GC(), lets allocation trigger cycles, and sleeps
// past the periodic-collection period. After every step it stops the world and
// snapshots the pacer (runtime.PacerRead): its inputs and its decisions. Steps
// and snapshots go into preallocated records; nothing is allocated between a
// snapshot and the next step, so the live heap the trace reports is the one
// the runtime decides on. The records become JSON only when the profile ends.
package runtime_test

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

const (
	pacerOpCommit = iota
	pacerOpSetGOGC
	pacerOpSetLimit
	pacerOpAlloc
	pacerOpGC
	pacerOpGCEnd
	pacerOpTick
	pacerOpObserve
)

const pacerMaxRecords = 1 << 12

// The metrics an observation reads, as a plain program would.
var pacerMetricNames = []string{
	"/gc/heap/goal:bytes",
	"/gc/gogc:percent",
	"/gc/gomemlimit:bytes",
	"/gc/scan/stack:bytes",
	"/gc/scan/globals:bytes",
	"/gc/heap/live:bytes",
	"/memory/classes/heap/released:bytes",
	"/gc/cycles/total:gc-cycles",
}

// pacerGlobals is scannable global memory (in the BSS), so /gc/scan/globals counts something of ours.
var pacerGlobals [1 << 12]*byte

type pacerRecord struct {
	op      int
	args    [2]int64 // percent/bytes, old value
	started bool     // alloc, tick: a cycle started
	since   int64    // tick: ns since the last cycle ended
	snap    runtime.PacerSnapshot
	metrics [8]uint64
}

type pacerJob struct {
	Out             string `json:"out"`
	Profile         string `json:"profile"`
	Seed            int64  `json:"seed"`
	Steps           int    `json:"steps"`
	ForceGCPeriodNS int64  `json:"force_gc_period_ns"`
}

type pacerRun struct {
	recs    []pacerRecord
	live    [][]byte
	ptrs    [][]*byte
	rng     *rand.Rand
	samples []metrics.Sample
	last    runtime.PacerSnapshot
	header  runtime.PacerSnapshot
	hold    chan struct{}
}

func (r *pacerRun) push(rec pacerRecord) {
	if len(r.recs) == cap(r.recs) {
		panic("pacer tracegen: too many records")
	}
	r.recs = append(r.recs, rec)
	r.last = rec.snap
}

func (r *pacerRun) read(commit bool) runtime.PacerSnapshot {
	var s runtime.PacerSnapshot
	runtime.PacerRead(&s, commit)
	return s
}

func (r *pacerRun) commit() { r.push(pacerRecord{op: pacerOpCommit, snap: r.read(true)}) }

func (r *pacerRun) observe() {
	s := r.read(false)
	metrics.Read(r.samples)
	rec := pacerRecord{op: pacerOpObserve, snap: s}
	for i := range r.samples {
		rec.metrics[i] = r.samples[i].Value.Uint64()
	}
	r.push(rec)
}

func (r *pacerRun) setGOGC(percent int) {
	old := debug.SetGCPercent(percent)
	r.push(pacerRecord{op: pacerOpSetGOGC, args: [2]int64{int64(percent), int64(old)}, snap: r.read(false)})
	r.commit()
}

func (r *pacerRun) setLimit(limit int64) {
	old := debug.SetMemoryLimit(limit)
	r.push(pacerRecord{op: pacerOpSetLimit, args: [2]int64{limit, old}, snap: r.read(false)})
	r.commit()
}

// gcEnd waits for a running mark phase to end and records the cycle's end.
func (r *pacerRun) gcEnd() {
	runtime.PacerWaitMark()
	r.push(pacerRecord{op: pacerOpGCEnd, snap: r.read(false)})
}

func (r *pacerRun) gc() {
	r.push(pacerRecord{op: pacerOpGC, snap: r.last})
	runtime.GC()
	r.push(pacerRecord{op: pacerOpGCEnd, snap: r.read(false)})
}

// alloc allocates one block of n bytes (a multiple of 8 KiB, over 32 KiB: one large span, so the
// live heap grows by exactly n), keeps it, and records whether a cycle started.
func (r *pacerRun) alloc(n int, scan bool) {
	before := r.last.Cycles
	if scan {
		if len(r.ptrs) == cap(r.ptrs) {
			r.ptrs = r.ptrs[:0]
		}
		r.ptrs = append(r.ptrs, make([]*byte, n/8))
	} else {
		if len(r.live) == cap(r.live) {
			r.live = r.live[:0]
		}
		r.live = append(r.live, make([]byte, n))
	}
	s := r.read(false)
	started := s.Cycles != before
	r.push(pacerRecord{op: pacerOpAlloc, args: [2]int64{int64(n), 0}, started: started, snap: s})
	if started {
		r.gcEnd()
	}
}

// drop lets a fraction of the live blocks die (the live heap only shrinks at the next cycle's end).
func (r *pacerRun) drop(fraction float64) {
	for i := range r.live {
		if r.rng.Float64() < fraction {
			r.live[i] = nil
		}
	}
	for i := range r.ptrs {
		if r.rng.Float64() < fraction {
			r.ptrs[i] = nil
		}
	}
}

// tick forces a cycle, sleeps d, and records whether the periodic trigger started another.
func (r *pacerRun) tick(d time.Duration) {
	r.gc()
	lastGC := r.last.LastGCNanotime
	time.Sleep(d)
	s := r.read(false)
	started := s.Cycles != r.last.Cycles
	r.push(pacerRecord{op: pacerOpTick, started: started, since: s.Now - lastGC, snap: s})
	if started {
		r.gcEnd()
	}
}

func (r *pacerRun) block() int { return (4 + r.rng.Intn(60)) << 13 } // 32 KiB .. 512 KiB, whole pages

// Profiles.

func (r *pacerRun) profileGOGC(steps int) {
	percents := []int{100, 50, 200, 10, 400, 25, 0, -1, 150, 100}
	for i := 0; i < steps; i++ {
		p := percents[i%len(percents)]
		r.setGOGC(p)
		if p != 0 {
			for k := r.rng.Intn(6); k > 0; k-- {
				r.alloc(r.block(), r.rng.Intn(3) == 0)
			}
		}
		r.drop(0.3)
		r.gc()
		r.observe()
		r.commit()
	}
}

func (r *pacerRun) profileAlloc(steps int) {
	percents := []int{100, 50, 300, 100, 20}
	r.setGOGC(percents[r.rng.Intn(len(percents))])
	for i := 0; i < steps; i++ {
		if i%40 == 39 {
			r.setGOGC(percents[r.rng.Intn(len(percents))])
			r.drop(0.5)
		}
		r.alloc(r.block(), r.rng.Intn(4) == 0)
		if r.rng.Intn(8) == 0 {
			r.drop(0.4)
		}
		if r.rng.Intn(10) == 0 {
			r.observe()
		}
	}
	r.observe()
}

func (r *pacerRun) profileLimit(steps int) {
	// A heap of some size with free memory in it, so the memory-limit goal is neither the live heap
	// nor the 1 MiB minimum headroom, and overage (mapped memory above the limit) shows in it.
	for k := 0; k < 48; k++ {
		r.alloc(512<<10, false)
	}
	r.drop(0.6)
	r.gc()
	for i := 0; i < steps; i++ {
		if i%4 == 0 {
			r.setGOGC([]int{100, 100, -1, 200}[(i/4)%4])
		}
		r.gc()
		mapped := float64(r.last.MappedReady)
		live := float64(r.last.HeapMarked)
		factors := []float64{4, 1.5, 1.1, 1.0, 0.97, 0.9}
		var limit int64
		if r.rng.Intn(6) == 0 {
			limit = int64(live * 0.5) // below the live heap: the goal is the marked heap
		} else {
			limit = int64(mapped * factors[r.rng.Intn(len(factors))])
		}
		r.setLimit(limit)
		r.observe()
		for k := r.rng.Intn(8); k > 0; k-- {
			r.alloc(r.block(), false)
		}
		r.drop(0.3)
		r.gc()
		r.observe()
		r.commit()
	}
	r.setLimit(math.MaxInt64)
	r.setGOGC(100)
}

func (r *pacerRun) profilePeriodic(steps int, period int64) {
	for i := 0; i < steps; i++ {
		if i%3 == 2 {
			r.setGOGC(-1)
		} else {
			r.setGOGC(100)
		}
		d := time.Duration(period / 4)
		if r.rng.Intn(2) == 0 {
			d = time.Duration(period * 5)
		}
		r.tick(d)
		r.observe()
	}
	r.setGOGC(100)
}

func (r *pacerRun) profileScavenge(steps int) {
	r.setGOGC(100)
	for i := 0; i < steps; i++ {
		for k := 8 + r.rng.Intn(24); k > 0; k-- {
			r.alloc(256<<10, false)
		}
		r.gc()
		r.drop(0.9)
		r.gc()
		r.gc()
		r.commit()
		time.Sleep(20 * time.Millisecond)
		r.observe()
		r.commit()
	}
}

// Output.

func pacerStats(s *runtime.PacerSnapshot) map[string]any {
	return map[string]any{
		"heap_live": s.HeapLive, "heap_in_use": s.HeapInUse, "heap_free": s.HeapFree,
		"heap_released": s.HeapReleased, "heap_alloc": s.HeapAlloc, "mapped_ready": s.MappedReady,
	}
}

func pacerNow(s *runtime.PacerSnapshot) map[string]any {
	return map[string]any{
		"heap_minimum": s.HeapMinimum, "gc_percent_heap_goal": s.GCPercentHeapGoal,
		"memory_limit_heap_goal": s.MemoryLimitHeapGoal, "heap_goal": s.HeapGoal, "trigger": s.Trigger,
		"runway": s.Runway, "sweep_dist_min_trigger": s.SweepDistMinTrigger,
	}
}

func (r *pacerRun) lines(job pacerJob, phys uintptr) []map[string]any {
	h := &r.header
	period := job.ForceGCPeriodNS
	if period == 0 {
		period = *runtime.ForceGCPeriod
	}
	out := []map[string]any{{
		"trace": "pacer", "version": 1,
		"params": map[string]any{"phys_page_bytes": phys, "force_gc_period_ns": period},
		"state": map[string]any{
			"gc_percent": h.GCPercent, "memory_limit": h.MemoryLimit, "heap_marked": h.HeapMarked,
			"last_heap_scan": h.LastHeapScan, "last_stack_scan": h.LastStackScan, "globals_scan": h.GlobalsScan,
			"cons_mark": h.ConsMark, "last_heap_goal": h.LastHeapGoal, "last_heap_in_use": h.LastHeapInUse,
			"cycles": h.Cycles,
		},
		"stats":  pacerStats(h),
		"source": map[string]any{"go": runtime.Version(), "profile": job.Profile, "seed": job.Seed},
	}}
	for i := range r.recs {
		rec := &r.recs[i]
		s := &rec.snap
		var line map[string]any
		switch rec.op {
		case pacerOpCommit:
			expect := pacerNow(s)
			expect["scav_gc_percent_goal"] = s.ScavGCPercentGoal
			expect["scav_memory_limit_goal"] = s.ScavMemLimitGoal
			line = map[string]any{"op": "commit", "sweep_done": s.SweepDone, "stats": pacerStats(s), "expect": expect}
		case pacerOpSetGOGC:
			line = map[string]any{"op": "set_gogc", "percent": rec.args[0], "sweep_done": s.SweepDone,
				"expect": map[string]any{"old": rec.args[1]}}
		case pacerOpSetLimit:
			line = map[string]any{"op": "set_memory_limit", "bytes": rec.args[0], "sweep_done": s.SweepDone,
				"expect": map[string]any{"old": rec.args[1]}}
		case pacerOpAlloc:
			line = map[string]any{"op": "alloc", "bytes": rec.args[0], "expect": map[string]any{"gc_started": rec.started}}
			if !rec.started {
				line["stats"] = pacerStats(s)
			}
		case pacerOpGC:
			line = map[string]any{"op": "gc_start", "kind": "manual"}
		case pacerOpGCEnd:
			expect := pacerNow(s)
			expect["last_heap_goal"] = s.LastHeapGoal
			line = map[string]any{"op": "gc_end", "marked": s.HeapMarked, "heap_scan": s.LastHeapScan,
				"stack_scan": s.LastStackScan, "globals_scan": s.GlobalsScan, "heap_in_use": s.LastHeapInUse,
				"cons_mark": s.ConsMark, "stats": pacerStats(s), "expect": expect}
		case pacerOpTick:
			line = map[string]any{"op": "tick", "since_gc_ns": rec.since, "expect": map[string]any{"gc_started": rec.started}}
		case pacerOpObserve:
			expect := pacerNow(s)
			expect["gc_percent"] = s.GCPercent
			expect["memory_limit"] = s.MemoryLimit
			m := map[string]any{}
			for k, name := range pacerMetricNames {
				m[name] = rec.metrics[k]
			}
			line = map[string]any{"op": "observe", "stats": pacerStats(s), "metrics": m, "expect": expect}
		}
		out = append(out, line)
	}
	return out
}

// The test.

func pacerSpin(depth int, hold chan struct{}) int {
	var frame [1 << 10]byte
	frame[depth%len(frame)] = byte(depth)
	if depth > 0 {
		return pacerSpin(depth-1, hold) + int(frame[0])
	}
	<-hold
	return int(frame[0])
}

func TestPacerTraceGen(t *testing.T) {
	specPath := os.Getenv("PACER_TRACEGEN_SPEC")
	if specPath == "" {
		t.Skip("PACER_TRACEGEN_SPEC not set")
	}
	data, err := os.ReadFile(specPath)
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Traces []pacerJob `json:"traces"`
	}
	if err := json.Unmarshal(data, &spec); err != nil {
		t.Fatal(err)
	}
	runtime.MemProfileRate = 0 // no profiling allocations between a snapshot and a step
	for i := range pacerGlobals {
		pacerGlobals[i] = new(byte)
	}
	hold := make(chan struct{})
	for g := 0; g < 8; g++ {
		go pacerSpin(16+8*g, hold) // parked goroutines with stacks of a few dozen KiB to scan
	}
	defer close(hold)
	savedPeriod := *runtime.ForceGCPeriod
	defer func() { *runtime.ForceGCPeriod = savedPeriod }()
	phys := uintptr(os.Getpagesize())
	for _, job := range spec.Traces {
		if job.ForceGCPeriodNS > 0 {
			*runtime.ForceGCPeriod = job.ForceGCPeriodNS
		} else {
			*runtime.ForceGCPeriod = savedPeriod
		}
		r := &pacerRun{
			recs:    make([]pacerRecord, 0, pacerMaxRecords),
			live:    make([][]byte, 0, 256),
			ptrs:    make([][]*byte, 0, 64),
			rng:     rand.New(rand.NewSource(job.Seed)),
			samples: make([]metrics.Sample, len(pacerMetricNames)),
		}
		for i, name := range pacerMetricNames {
			r.samples[i].Name = name
		}
		metrics.Read(r.samples) // the first read sets up the metrics tables
		debug.SetMemoryLimit(math.MaxInt64)
		debug.SetGCPercent(100)
		runtime.GC()
		runtime.GC()
		r.header = r.read(false)
		r.last = r.header
		r.commit()
		switch job.Profile {
		case "gogc":
			r.profileGOGC(job.Steps)
		case "alloc":
			r.profileAlloc(job.Steps)
		case "limit":
			r.profileLimit(job.Steps)
		case "periodic":
			r.profilePeriodic(job.Steps, *runtime.ForceGCPeriod)
		case "scavenge":
			r.profileScavenge(job.Steps)
		default:
			t.Fatalf("unknown profile %q", job.Profile)
		}
		r.live, r.ptrs = nil, nil
		lines := r.lines(job, phys)
		f, err := os.Create(job.Out)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range lines {
			b, err := json.Marshal(line)
			if err != nil {
				t.Fatal(err)
			}
			f.Write(append(b, '\n'))
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		fmt.Printf("pacer tracegen: %s: %d lines\n", job.Out, len(lines))
		debug.SetMemoryLimit(math.MaxInt64)
		debug.SetGCPercent(100)
	}
}
