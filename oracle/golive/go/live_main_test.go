// Live driver for the page allocator (not part of the Go distribution).
//
// oracle/golive/driver.py adds this file, live_export_test.go,
// live_scavenger_export_test.go, live_scavenger_test.go and
// tracegen_export_test.go to package runtime's test build with
// `go test -c -overlay` and runs the resulting test binary directly:
//
//	PAGEALLOC_LIVE=1 runtime.test -test.run='^TestPageAllocLive$'
//
// TestPageAllocLive does nothing unless PAGEALLOC_LIVE is set. It then
// speaks the oracle's subprocess protocol (oracle/pagealloc/subprocess.py) on
// stdin and stdout, one JSON object per line, until end of input:
//
//	header {"trace": "pagealloc", "version": V, "params": {...}}
//	       -> {"ok": true, "snapshot": false, "override": B, "runtime": {...}}
//	       starts a new, empty test-mode pageAlloc (the previous one is freed).
//	op     a trace line without expect -> the result in expect form, {} for
//	       grow, free, cache_flush, next_gen and pad, or {"error": "..."} when the
//	       operation is impossible (nothing is changed then). Version 4's
//	       scavenger_wake runs the session's background scavenger
//	       (live_scavenger_test.go, live_scavenger_export_test.go).
//	{"op": "hello"}    -> the runtime's own params and version (no header needed).
//	{"op": "go_state"} -> the allocator's search hint and scavenge cursors,
//	                      as pages of the trace (null: full heap / cleared).
//
// Trace chunk C is the runtime's chunk origin+C, and a trace may grow chunks
// [first, limit) (runtime.TraceChunkSpace: origin BaseChunkIdx on 64-bit
// platforms, 0 on 32-bit ones, as in the trace generator). The header's
// params.arch (absent: amd64) must be the GOARCH the driver was built for. When the header's phys_page_pages / huge_page_pages differ from
// the runtime's own, every scavenge runs with the runtime's physPageSize and
// physHugePageSize replaced by the header's, with the world stopped for the
// duration of the call (TraceGenScavenge); nothing else in pageAlloc reads
// them in test mode. Every answer is written as soon as it is ready, so a
// runtime that throws has answered every operation before the fatal one.
//
// All top-level names start with lv so they cannot clash with the rest of
// package runtime_test.

package runtime_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"testing"
)

const lvEnv = "PAGEALLOC_LIVE"

type lvParams struct {
	Arch          *string `json:"arch"`
	ChunkPages    *int64  `json:"chunk_pages"`
	PhysPagePages *int64  `json:"phys_page_pages"`
	HugePagePages *int64  `json:"huge_page_pages"`
}

type lvMsg struct {
	Trace   *string   `json:"trace"`
	Version *int64    `json:"version"`
	Params  *lvParams `json:"params"`
	Op      *string   `json:"op"`
	Chunk   *int64    `json:"chunk"`
	Nchunks *int64    `json:"nchunks"`
	Npages  *int64    `json:"npages"`
	Page    *int64    `json:"page"`
	Cache   *int64    `json:"cache"`
	Force   *bool     `json:"force"`
	// scavenger_wake's fields
	Budget    *int64 `json:"budget"`
	NsPerPage *int64 `json:"ns_per_page"`
	SleepPct  *int64 `json:"sleep_pct"`
	Procs     *int64 `json:"procs"`
}

type lvSession struct {
	pa         lvAlloc // the allocator, through live_alloc_test.go (a mutant build gates its calls)
	base       uintptr
	firstChunk int64 // a trace may grow chunks [firstChunk, maxChunks) (runtime.TraceChunkSpace)
	maxChunks  int64
	version    int64
	caches     map[int64]*lvCache
	padded     map[int64]bool // pages pad marked: no allocation owns them, so a free of one is refused
	grown      bool           // FreePageAlloc needs at least one grow
	override   bool
	phys, huge uintptr
	scavenger  *lvScavenger // the background scavenger's goroutine, from the first scavenger_wake on
}

// lvParkTimeout bounds each wait for the background scavenger to park (ns).
const lvParkTimeout = int64(1e9)

type lvDriver struct {
	out    []byte
	s      *lvSession
	physRT uintptr // the runtime's own physPageSize and physHugePageSize
	hugeRT uintptr
}

// lvMaxCount bounds page counts so that byte counts cannot overflow a uintptr.
var lvMaxCount = runtime.TraceMaxPages()

func TestPageAllocLive(t *testing.T) {
	if os.Getenv(lvEnv) == "" {
		t.Skip(lvEnv + " not set; this test only serves the oracle's subprocess protocol on request")
	}
	d := &lvDriver{}
	d.physRT, d.hugeRT = runtime.TraceGenPageSizes()
	in := bufio.NewReaderSize(os.Stdin, 1<<16)
	for {
		line, err := in.ReadBytes('\n')
		if len(line) > 0 {
			d.out = d.out[:0]
			d.handle(line)
			d.out = append(d.out, '\n')
			if _, werr := os.Stdout.Write(d.out); werr != nil {
				break
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("reading stdin: %v", err)
		}
	}
	d.reset()
}

func (d *lvDriver) reset() {
	if d.s != nil {
		if d.s.scavenger != nil && !d.s.scavenger.g.Stop(lvParkTimeout) {
			lvFatal("the background scavenger of the previous session did not end within %v ns", lvParkTimeout)
		}
		if !d.s.grown {
			// FreePageAlloc expects mapped summaries; the heap is discarded anyway.
			chunkBytes := uintptr(runtime.PallocChunkPages) * runtime.PageSize
			d.s.pa.TraceGenGrow(d.s.base+uintptr(d.s.firstChunk)*chunkBytes, chunkBytes)
		}
		runtime.FreePageAlloc(d.s.pa.PageAlloc)
		d.s = nil
	}
}

func (d *lvDriver) fail(format string, args ...any) {
	msg, _ := json.Marshal(fmt.Sprintf(format, args...))
	d.out = append(d.out, `{"error": `...)
	d.out = append(d.out, msg...)
	d.out = append(d.out, '}')
}

func (d *lvDriver) page(page int64, ok bool) {
	if ok {
		d.out = strconv.AppendInt(d.out, page, 10)
	} else {
		d.out = append(d.out, "null"...)
	}
}

func (d *lvDriver) handle(line []byte) {
	var m lvMsg
	if err := json.Unmarshal(line, &m); err != nil {
		d.fail("not a JSON object of the protocol: %v", err)
		return
	}
	if m.Trace != nil {
		d.header(&m)
		return
	}
	if m.Op == nil {
		d.fail("a line must be a header or have an \"op\"")
		return
	}
	switch *m.Op {
	case "hello":
		d.hello()
		return
	}
	s := d.s
	if s == nil {
		d.fail("no header yet")
		return
	}
	switch op := *m.Op; op {
	case "grow":
		c, k, ok := d.need("chunk", m.Chunk, 0, "nchunks", m.Nchunks, 1)
		if ok {
			d.grow(c, k)
		}
	case "alloc":
		if n, ok := d.count("npages", m.Npages, 1); ok {
			addr, scav := s.pa.Alloc(uintptr(n))
			d.allocResult(addr, scav)
		}
	case "free":
		p, n, ok := d.need("page", m.Page, 0, "npages", m.Npages, 1)
		if ok {
			d.free(p, n)
		}
	case "cache_fill":
		if id, ok := d.count("cache", m.Cache, 0); ok {
			d.cacheFill(id)
		}
	case "cache_alloc":
		id, n, ok := d.need("cache", m.Cache, 0, "npages", m.Npages, 1)
		if !ok {
			return
		}
		pc := s.caches[id]
		if pc == nil {
			d.fail("unknown cache id %d: no cache_fill has named it", id)
			return
		}
		if n > int64(runtime.PageCachePages) {
			d.fail("cache_alloc of %d pages; a cache holds at most %d", n, runtime.PageCachePages)
			return
		}
		addr, scav := pc.Alloc(uintptr(n))
		d.allocResult(addr, scav)
	case "cache_flush":
		if id, ok := d.count("cache", m.Cache, 0); ok {
			pc := s.caches[id]
			if pc == nil {
				d.fail("unknown cache id %d: no cache_fill has named it", id)
				return
			}
			pc.Flush(s.pa)
			d.out = append(d.out, "{}"...)
		}
	case "scavenge":
		if n, ok := d.count("npages", m.Npages, 1); ok {
			force := s.version < 2 || m.Force == nil || *m.Force
			nbytes := uintptr(n) * runtime.PageSize
			var r uintptr
			if force {
				r = s.pa.TraceGenScavenge(nbytes, s.override, s.phys, s.huge)
			} else {
				r = s.pa.TraceGenScavengeBg(nbytes, s.override, s.phys, s.huge)
			}
			d.out = append(d.out, `{"released": `...)
			d.out = strconv.AppendUint(d.out, uint64(r/runtime.PageSize), 10)
			d.out = append(d.out, '}')
		}
	case "next_gen":
		if s.version < 2 {
			d.fail("unknown op \"next_gen\" in a version %d trace", s.version)
			return
		}
		s.pa.TraceGenNextGen()
		d.out = append(d.out, "{}"...)
	case "pad":
		if s.version < 3 {
			d.fail("unknown op \"pad\" in a version %d trace", s.version)
			return
		}
		if p, n, ok := d.need("page", m.Page, 0, "npages", m.Npages, 1); ok {
			d.pad(p, n)
		}
	case "scavenger_wake":
		if s.version < 4 {
			d.fail("unknown op \"scavenger_wake\" in a version %d trace", s.version)
			return
		}
		d.scavengerWake(&m)
	case "go_state":
		d.goState()
	default:
		d.fail("unknown op %q", op)
	}
}

// count reads a required integer field with a minimum (and lvMaxCount as maximum).
func (d *lvDriver) count(name string, v *int64, min int64) (int64, bool) {
	return d.bounded(name, v, min, lvMaxCount)
}

// bounded reads a required integer field in [min, max].
func (d *lvDriver) bounded(name string, v *int64, min, max int64) (int64, bool) {
	if v == nil {
		d.fail("missing field %q", name)
		return 0, false
	}
	if *v < min || *v > max {
		d.fail("field %q must be from %d to %d, got %d", name, min, max, *v)
		return 0, false
	}
	return *v, true
}

func (d *lvDriver) need(an string, a *int64, amin int64, bn string, b *int64, bmin int64) (int64, int64, bool) {
	x, ok := d.count(an, a, amin)
	if !ok {
		return 0, 0, false
	}
	y, ok := d.count(bn, b, bmin)
	return x, y, ok
}

func (d *lvDriver) hello() {
	phys := int64(d.physRT / runtime.PageSize)
	if phys < 1 {
		phys = 1
	}
	_, first, limit := runtime.TraceChunkSpace()
	fmt.Fprintf(sliceWriter{&d.out}, `{"chunk_pages": %d, "phys_page_pages": %d, "huge_page_pages": %d, "phys_page_bytes": %d, "huge_page_bytes": %d, "go_version": %q, "arch": %q, "first_chunk": %d, "max_chunks": %d}`,
		runtime.PallocChunkPages, phys, d.hugeRT/runtime.PageSize, d.physRT, d.hugeRT, runtime.Version(),
		runtime.GOARCH, first, limit)
}

type sliceWriter struct{ b *[]byte }

func (w sliceWriter) Write(p []byte) (int, error) {
	*w.b = append(*w.b, p...)
	return len(p), nil
}

func lvPowerOfTwo(x int64) bool { return x > 0 && x&(x-1) == 0 }

func (d *lvDriver) header(m *lvMsg) {
	if *m.Trace != "pagealloc" {
		d.fail("header: trace must be \"pagealloc\", got %q", *m.Trace)
		return
	}
	if m.Version == nil || *m.Version < 1 || *m.Version > 4 {
		d.fail("header: unsupported trace version (this driver reads 1 to 4)")
		return
	}
	p := m.Params
	if p == nil || p.ChunkPages == nil || p.PhysPagePages == nil || p.HugePagePages == nil {
		d.fail("header: params needs chunk_pages, phys_page_pages and huge_page_pages")
		return
	}
	arch := "amd64"
	if p.Arch != nil {
		arch = *p.Arch
	}
	if arch != runtime.GOARCH {
		d.fail("header: the trace is for %s (params.arch), this driver runs the %s runtime", arch, runtime.GOARCH)
		return
	}
	if *p.ChunkPages != int64(runtime.PallocChunkPages) {
		d.fail("header: the runtime's chunks have %d pages, the trace wants %d", runtime.PallocChunkPages, *p.ChunkPages)
		return
	}
	phys, huge := *p.PhysPagePages, *p.HugePagePages
	if !lvPowerOfTwo(phys) || phys > 64 {
		d.fail("header: phys_page_pages must be a power of two from 1 to 64, got %d", phys)
		return
	}
	if huge != 0 && (!lvPowerOfTwo(huge) || huge > int64(runtime.PallocChunkPages)) {
		d.fail("header: huge_page_pages must be 0 or a power of two up to %d, got %d", runtime.PallocChunkPages, huge)
		return
	}
	d.reset()
	rtPhys := int64(d.physRT / runtime.PageSize)
	if rtPhys < 1 {
		rtPhys = 1
	}
	rtHuge := int64(d.hugeRT / runtime.PageSize)
	origin, first, limit := runtime.TraceChunkSpace()
	s := &lvSession{
		pa:         lvNewAlloc(),
		base:       runtime.PageBase(runtime.ChunkIdx(origin), 0),
		firstChunk: int64(first),
		maxChunks:  int64(limit),
		version:    *m.Version,
		caches:     map[int64]*lvCache{},
		override:   phys != rtPhys || huge != rtHuge,
		phys:       uintptr(phys) * runtime.PageSize,
		huge:       uintptr(huge) * runtime.PageSize,
	}
	d.s = s
	fmt.Fprintf(sliceWriter{&d.out}, `{"ok": true, "snapshot": false, "override": %t, "runtime": {"chunk_pages": %d, "phys_page_pages": %d, "huge_page_pages": %d}}`,
		s.override, runtime.PallocChunkPages, rtPhys, rtHuge)
}

func (d *lvDriver) addrOf(page int64) uintptr { return d.s.base + uintptr(page)*runtime.PageSize }

func (d *lvDriver) pageOf(addr uintptr) int64 { return int64((addr - d.s.base) / runtime.PageSize) }

func (d *lvDriver) grow(c, k int64) {
	s := d.s
	if c < s.firstChunk || c+k > s.maxChunks {
		d.fail("grow of chunks [%d, %d) leaves the chunks of the %s address space a trace may grow, [%d, %d)", c, c+k, runtime.GOARCH, s.firstChunk, s.maxChunks)
		return
	}
	chunkBytes := uintptr(runtime.PallocChunkPages) * runtime.PageSize
	base := d.addrOf(c * int64(runtime.PallocChunkPages))
	limit := base + uintptr(k)*chunkBytes
	if !s.pa.LiveRangeUnmapped(base, limit) {
		for i := int64(0); i < k; i++ {
			b := base + uintptr(i)*chunkBytes
			if !s.pa.LiveRangeUnmapped(b, b+chunkBytes) {
				d.fail("grow over chunk %d, which already exists", c+i)
				return
			}
		}
	}
	s.pa.TraceGenGrow(base, uintptr(k)*chunkBytes)
	s.grown = true
	d.out = append(d.out, "{}"...)
}

func (d *lvDriver) allocResult(addr, scav uintptr) {
	d.out = append(d.out, `{"page": `...)
	if addr == 0 {
		scav = 0
	}
	d.page(d.pageOf(addr), addr != 0)
	d.out = append(d.out, `, "scav": `...)
	d.out = strconv.AppendUint(d.out, uint64(scav/runtime.PageSize), 10)
	d.out = append(d.out, '}')
}

func (d *lvDriver) free(p, n int64) {
	s := d.s
	if p+n > s.maxChunks*int64(runtime.PallocChunkPages) {
		d.fail("free of pages [%d, %d) goes past the runtime's address space", p, p+n)
		return
	}
	if addr, problem := s.pa.LiveCheckFree(d.addrOf(p), uintptr(n)); problem != 0 {
		what := "which is not in the heap"
		if problem == 2 {
			what = "which is not in use"
		}
		d.fail("free of page %d, %s", d.pageOf(addr), what)
		return
	}
	padding := int64(-1)
	for pg := range s.padded {
		if pg >= p && pg < p+n && (padding < 0 || pg < padding) {
			padding = pg
		}
	}
	if padding >= 0 {
		d.fail("free of page %d, which is padding at the heap's base (never handed out)", padding)
		return
	}
	for id, pc := range s.caches {
		if pc.Empty() {
			continue
		}
		cb := d.pageOf(pc.Base())
		free := pc.Cache()
		for i := int64(0); i < int64(runtime.PageCachePages); i++ {
			if free&(1<<i) != 0 && cb+i >= p && cb+i < p+n {
				d.fail("free of page %d, which cache %d holds and has not handed out", cb+i, id)
				return
			}
		}
	}
	s.pa.Free(d.addrOf(p), uintptr(n))
	d.out = append(d.out, "{}"...)
}

// pad marks free pages in use and scavenged, as the runtime pads the base of
// its first growth (pageAlloc.markRandomPaddingPages); every page must be
// mapped and free.
func (d *lvDriver) pad(p, n int64) {
	s := d.s
	if p+n > s.maxChunks*int64(runtime.PallocChunkPages) {
		d.fail("pad of pages [%d, %d) goes past the runtime's address space", p, p+n)
		return
	}
	if addr, problem := s.pa.LiveCheckUnused(d.addrOf(p), uintptr(n)); problem != 0 {
		what := "which is not in the heap"
		if problem == 2 {
			what = "which is in use"
		}
		d.fail("pad of page %d, %s", d.pageOf(addr), what)
		return
	}
	s.pa.LivePad(d.addrOf(p), uintptr(n))
	if s.padded == nil {
		s.padded = map[int64]bool{}
	}
	for pg := p; pg < p+n; pg++ {
		s.padded[pg] = true
	}
	d.out = append(d.out, "{}"...)
}

func (d *lvDriver) cacheFill(id int64) {
	s := d.s
	if pc := s.caches[id]; pc != nil && !pc.Empty() {
		d.fail("cache_fill into cache %d, which is not empty", id)
		return
	}
	pc := s.pa.AllocToCache()
	s.caches[id] = &pc
	d.out = append(d.out, `{"base": `...)
	d.page(d.pageOf(pc.Base()), !pc.Empty())
	d.out = fmt.Appendf(d.out, `, "free": "0x%016x", "scav": "0x%016x"}`, pc.Cache(), pc.Scav())
}

// lvFatal reports a driver state it cannot go on from (a scavenger goroutine
// that does not park) and ends the process, so the oracle sees a crash at the
// operation.
func lvFatal(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "fatal error: "+format+"\n", args...)
	os.Exit(3)
}

// scavengerWake wakes the session's background scavenger with the op's stubs
// (live_scavenger_test.go) and writes what it did until it parked.
func (d *lvDriver) scavengerWake(m *lvMsg) {
	s := d.s
	budget, ok := d.count("budget", m.Budget, 0)
	if !ok {
		return
	}
	ns, ok := d.bounded("ns_per_page", m.NsPerPage, 1, 10_000_000)
	if !ok {
		return
	}
	pct, ok := d.bounded("sleep_pct", m.SleepPct, 0, 10_000)
	if !ok {
		return
	}
	procs, ok := d.bounded("procs", m.Procs, 1, 1024)
	if !ok {
		return
	}
	if s.scavenger == nil {
		s.scavenger = newLvScavenger(s.pa.PageAlloc, s.override, s.phys, s.huge, lvNewScavenger)
		if s.scavenger == nil {
			lvFatal("the background scavenger did not park within %v ns of starting", lvParkTimeout)
		}
	}
	w, ok := s.scavenger.wake(uintptr(budget)*runtime.PageSize, ns, pct, int32(procs), lvScavengerWake)
	if !ok {
		lvFatal("the background scavenger did not park within %v ns of a wake", lvParkTimeout)
	}
	d.out = s.scavenger.appendWake(d.out, w)
}

func (d *lvDriver) goState() {
	h := d.s.pa.TraceGenState()
	d.out = append(d.out, `{"search_page": `...)
	d.page(d.pageOf(h.Search), h.SearchOK)
	d.out = append(d.out, `, "force_cursor": `...)
	d.page(d.pageOf(h.Force), h.ForceOK)
	d.out = fmt.Appendf(d.out, `, "force_marked": %t, "bg_cursor": `, h.ForceMarked && h.ForceOK)
	d.page(d.pageOf(h.Bg), h.BgOK)
	d.out = fmt.Appendf(d.out, `, "bg_marked": %t}`, h.BgMarked && h.BgOK)
}
