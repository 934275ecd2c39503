// The background scavenger's goroutine for the live driver (not part of the
// Go distribution).
//
// oracle/golive/driver.py adds this file to package runtime's test build
// with the live driver. A LiveScavenger is a scavengerState of its own (never
// the runtime's), run by a goroutine of its own the way bgscavenge runs the
// runtime's: park; when woken, loop run and sleep until a run releases
// nothing, then park again. Its stubs are the trace op scavenger_wake's
// (SPEC.md, "The background scavenger"), made by the driver
// (live_main_test.go, lvScavenger).
//
// Invariant: between calls of Wake the goroutine is parked, so its fields
// (and the stubs' state) are read and written by one goroutine at a time
// (the lock of its scavengerState orders the hand-over both ways).

package runtime

// LiveScavenger is a background scavenger with the given stubs.
type LiveScavenger struct {
	state    scavengerState
	released uintptr // bytes the goroutine's runs reported in the wake in progress
	runs     int64   // runs made in the wake in progress
	stop     bool    // set by Stop while parked: the goroutine ends at its next wake
	done     chan struct{}
}

// LiveWake is what one wake did and the pacing state it left.
type LiveWake struct {
	Released uintptr // bytes
	Runs     int64
	Ratio    float64
	Cooldown int64 // ns
	Integral float64
}

// NewLiveScavenger starts the goroutine with the given stubs (made by the
// caller: package runtime may not make closures that escape) and waits up to
// timeout ns until it parks; nil if it did not.
func NewLiveScavenger(sleep func(int64) int64, scavenge func(uintptr) (uintptr, int64), shouldStop func() bool,
	gomaxprocs func() int32, timeout int64) *LiveScavenger {
	s := &LiveScavenger{done: make(chan struct{})}
	s.state.sleepStub = sleep
	s.state.scavenge = scavenge
	s.state.shouldStop = shouldStop
	s.state.gomaxprocs = gomaxprocs
	go s.loop()
	if !s.parkedWithin(timeout) {
		return nil
	}
	return s
}

// loop is the goroutine, as bgscavenge runs the runtime's scavenger.
func (s *LiveScavenger) loop() {
	s.state.init()
	s.state.park()
	for !s.stop {
		released, worked := s.state.run()
		s.runs++
		if released == 0 {
			s.state.park()
			continue
		}
		s.released += released
		s.state.sleep(worked)
	}
	close(s.done)
}

// parkedWithin waits until the goroutine has parked, up to timeout ns.
func (s *LiveScavenger) parkedWithin(timeout int64) bool {
	start := nanotime()
	for nanotime()-start < timeout {
		lock(&s.state.lock)
		parked := s.state.parked
		unlock(&s.state.lock)
		if parked {
			return true
		}
		Gosched()
	}
	return false
}

// Wake wakes the parked goroutine and waits (up to timeout ns) until it parks
// again; ok is false if it did not.
func (s *LiveScavenger) Wake(timeout int64) (w LiveWake, ok bool) {
	s.released, s.runs = 0, 0
	s.state.wake()
	if !s.parkedWithin(timeout) {
		return w, false
	}
	c := &s.state.sleepController
	return LiveWake{s.released, s.runs, s.state.sleepRatio, s.state.controllerCooldown, c.errIntegral}, true
}

// Stop ends the parked goroutine, waiting up to timeout ns; false if it did not end.
func (s *LiveScavenger) Stop(timeout int64) bool {
	s.stop = true
	s.state.wake()
	start := nanotime()
	for nanotime()-start < timeout {
		select {
		case <-s.done:
			return true
		default:
			Gosched()
		}
	}
	return false
}
