// Conformance-trace generator for the page allocator (not part of the Go
// distribution).
//
// oracle/golive/tracegen.py adds this file, tracegen_export_test.go and
// live_scavenger_export_test.go to package runtime's tests with
// `go test -overlay`. TestPageAllocTraceGen does nothing
// unless PAGEALLOC_TRACEGEN_SPEC is set, either to a JSON document or to the
// path of a file holding one:
//
//	{"traces": [{"out": "/abs/path.jsonl", "profile": "churn", "seed": 1,
//	             "ops": 1500, "phys_page_bytes": null, "huge_page_bytes": null}]}
//
// For every entry it builds an empty test-mode page allocator, drives it with
// a seeded stream of operations that are valid by construction, and writes a
// trace (format v1, JSON Lines) whose "expect" fields are whatever the real
// allocator returned. phys_page_bytes / huge_page_bytes, when given, replace
// the runtime's physical and huge page sizes for the duration of each
// scavenge (see TraceGenScavenge); everything else in the allocator ignores
// them.
//
// The generator keeps its own shadow of which pages the allocator considers
// allocated (live allocations plus pages held by caches). It uses the shadow
// to steer the scripted scenarios, compares it with the allocator's bitmaps
// every so often (any difference is a generator bug and fails the test), and
// counts allocations whose result differs from a plain address-ordered first
// fit, which it reports in the test log.
//
// All top-level names start with tg so they cannot clash with the rest of
// package runtime_test.

package runtime_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"math/rand"
	"os"
	"sort"
	"strings"
	"testing"

	"runtime"
)

const (
	tgSpecEnv    = "PAGEALLOC_TRACEGEN_SPEC"
	tgChunkPages = int(runtime.PallocChunkPages)
	tgCachePages = int(runtime.PageCachePages)
)

// tgJob describes one trace to produce.
type tgJob struct {
	Out           string  `json:"out"`
	Profile       string  `json:"profile"`
	Seed          int64   `json:"seed"`
	Ops           int     `json:"ops"`
	PhysPageBytes *uint64 `json:"phys_page_bytes"`
	HugePageBytes *uint64 `json:"huge_page_bytes"`
}

type tgSpec struct {
	Traces []tgJob `json:"traces"`
}

func TestPageAllocTraceGen(t *testing.T) {
	raw := strings.TrimSpace(os.Getenv(tgSpecEnv))
	if raw == "" {
		t.Skip(tgSpecEnv + " not set; this test only generates traces on request")
	}
	data := []byte(raw)
	if !strings.HasPrefix(raw, "{") {
		var err error
		if data, err = os.ReadFile(raw); err != nil {
			t.Fatalf("reading spec: %v", err)
		}
	}
	var spec tgSpec
	if err := json.Unmarshal(data, &spec); err != nil {
		t.Fatalf("parsing spec: %v", err)
	}
	if len(spec.Traces) == 0 {
		// Also accept a single job object at the top level.
		var job tgJob
		if err := json.Unmarshal(data, &job); err != nil || job.Out == "" {
			t.Fatalf("spec has no traces")
		}
		spec.Traces = []tgJob{job}
	}
	for _, job := range spec.Traces {
		tgRunJob(t, job)
	}
}

// tgProfiles maps a profile name to the driver that fills the op budget.
var tgProfiles = map[string]func(g *tgGen){
	"churn":          (*tgGen).runChurn,
	"cross_chunk":    (*tgGen).runCrossChunk,
	"cache_heavy":    (*tgGen).runCacheHeavy,
	"scavenge_heavy": (*tgGen).runScavengeHeavy,
	"exhaustion":     (*tgGen).runExhaustion,
	"sparse":         (*tgGen).runSparse,
	"background":     (*tgGen).runBackground,
	"padded":         (*tgGen).runPadded,
	"top":            (*tgGen).runTop,
	"scavenger":      (*tgGen).runScavenger,
}

// tgVersion is the trace format version a profile needs: background uses
// next_gen and non-forced scavenges, which version 2 added (top too); padded uses pad,
// which version 3 added; scavenger uses scavenger_wake, which version 4 added.
func tgVersion(profile string) int {
	switch profile {
	case "background", "top":
		return 2
	case "padded":
		return 3
	case "scavenger":
		return 4
	}
	return 1
}

func tgRunJob(t *testing.T, job tgJob) {
	run, ok := tgProfiles[job.Profile]
	if !ok {
		t.Fatalf("unknown profile %q", job.Profile)
	}
	if job.Out == "" || job.Ops <= 0 {
		t.Fatalf("job needs out and ops > 0: %+v", job)
	}
	phys, huge := runtime.TraceGenPageSizes()
	override := false
	if job.PhysPageBytes != nil {
		phys, override = uintptr(*job.PhysPageBytes), true
	}
	if job.HugePageBytes != nil {
		huge, override = uintptr(*job.HugePageBytes), true
	}
	if override {
		// The scavenger needs a power-of-two physical page of at most 64
		// runtime pages; reject anything else before it can throw.
		if phys == 0 || phys&(phys-1) != 0 || phys > 64*runtime.PageSize {
			t.Fatalf("unsupported phys_page_bytes %d", phys)
		}
		if huge&(huge-1) != 0 || huge > uintptr(tgChunkPages)*runtime.PageSize {
			t.Fatalf("unsupported huge_page_bytes %d", huge)
		}
	}
	physPages := int(phys / runtime.PageSize)
	if physPages < 1 {
		physPages = 1
	}
	hugePages := int(huge / runtime.PageSize)

	f, err := os.Create(job.Out + ".tmp")
	if err != nil {
		t.Fatalf("creating output: %v", err)
	}
	w := bufio.NewWriter(f)
	arch := ""
	if runtime.PageAlloc64Bit == 0 {
		arch = fmt.Sprintf(`, "arch": %q`, runtime.GOARCH) // absent means amd64
	}
	fmt.Fprintf(w, `{"trace": "pagealloc", "version": %d, "params": {"chunk_pages": %d, "phys_page_pages": %d, "huge_page_pages": %d%s}}`+"\n",
		tgVersion(job.Profile), tgChunkPages, physPages, hugePages, arch)
	origin, first, limit := runtime.TraceChunkSpace()
	maxPages := int(min(runtime.TraceMaxPages(), int64(^uint(0)>>1)))

	g := &tgGen{
		t:          t,
		rng:        rand.New(rand.NewSource(job.Seed)),
		pa:         runtime.TraceGenNewPageAlloc(),
		base:       runtime.PageBase(runtime.ChunkIdx(origin), 0),
		origin:     int(origin),
		first:      int(first),
		limit:      int(limit),
		low:        int(runtime.BaseChunkIdx) - int(origin),
		maxPages:   maxPages,
		rootChunks: runtime.TraceRootChunks(),
		budget:     job.Ops,
		out:        w,
		chunks:     map[int][]bool{},
		caches:     map[int]*tgCache{},
		override:   override,
		phys:       phys,
		huge:       huge,
		counts:     map[string]int{},
	}
	run(g)
	g.checkShadow()
	if g.scav != nil && !g.scav.g.Stop(tgParkTimeout) {
		t.Fatalf("the background scavenger did not end within %d ns", tgParkTimeout)
	}
	runtime.FreePageAlloc(g.pa)

	if err := w.Flush(); err != nil {
		t.Fatalf("writing trace: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("closing trace: %v", err)
	}
	if err := os.Rename(job.Out+".tmp", job.Out); err != nil {
		t.Fatalf("renaming trace: %v", err)
	}
	keys := make([]string, 0, len(g.counts))
	for k := range g.counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sb strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&sb, " %s=%d", k, g.counts[k])
	}
	t.Logf("tracegen: wrote %s: profile=%s seed=%d ops=%d phys_page_pages=%d huge_page_pages=%d;%s; not_first_fit=%d",
		job.Out, job.Profile, job.Seed, g.nops, physPages, hugePages, sb.String(), g.notFirstFit)
	for _, n := range g.notes {
		t.Logf("tracegen: note: %s", n)
	}
}

// tgAlloc is a run of pages the trace owns and may free.
type tgAlloc struct {
	page, n   int
	fromCache bool
}

// tgCache is one cache id of the trace.
type tgCache struct {
	pc     runtime.PageCache
	filled bool // filled at least once, so cache_alloc/cache_flush are legal
}

type tgGen struct {
	t      *testing.T
	rng    *rand.Rand
	pa     *runtime.PageAlloc
	base   uintptr // the address of trace page 0
	budget int

	// Where the trace's chunks lie (runtime.TraceChunkSpace): trace chunk C
	// is the allocator's chunk origin+C, a trace may grow [first, limit),
	// and the profiles' chunk 0 is trace chunk low (BaseChunkIdx, as in
	// Go's tests, on every platform). rootChunks is a root entry's chunks.
	origin, first, limit, low, rootChunks int
	maxPages                              int // a page count's bound (its bytes must fit a uintptr)

	nops int
	out  *bufio.Writer

	chunks    map[int][]bool // shadow: true means allocated in the allocator
	order     []int          // sorted keys of chunks
	usedPages int            // number of true entries in chunks

	live      []tgAlloc
	caches    map[int]*tgCache
	ncacheIDs int

	override   bool
	phys, huge uintptr

	scav *tgScavenger // the background scavenger's goroutine, from the first scavenger_wake on

	counts       map[string]int
	notFirstFit  int
	notes        []string
	coverageDone bool
}

func (g *tgGen) done() bool { return g.nops >= g.budget }

func (g *tgGen) fatalf(format string, args ...any) {
	g.t.Fatalf("tracegen (op %d): %s", g.nops, fmt.Sprintf(format, args...))
}

func (g *tgGen) note(format string, args ...any) {
	if len(g.notes) < 20 {
		g.notes = append(g.notes, fmt.Sprintf("op %d: ", g.nops+1)+fmt.Sprintf(format, args...))
	}
}

func (g *tgGen) emit(kind, line string) {
	// Record the allocator's hidden state after the op in an extra field,
	// which trace readers ignore and the model's tests compare against.
	h := g.pa.TraceGenState()
	pageOrNull := func(addr uintptr, ok bool) string {
		if !ok {
			return "null"
		}
		return fmt.Sprint(g.pageOf(addr))
	}
	line = strings.TrimSuffix(line, "}") + fmt.Sprintf(
		`, "go_state": {"search_page": %s, "force_cursor": %s, "force_marked": %t, "bg_cursor": %s, "bg_marked": %t}}`,
		pageOrNull(h.Search, h.SearchOK), pageOrNull(h.Force, h.ForceOK), h.ForceMarked && h.ForceOK,
		pageOrNull(h.Bg, h.BgOK), h.BgMarked && h.BgOK)
	g.out.WriteString(line)
	g.out.WriteByte('\n')
	g.nops++
	g.counts[kind]++
	if g.nops%250 == 0 {
		g.checkShadow()
	}
}

func (g *tgGen) addrOf(page int) uintptr { return g.base + uintptr(page)*runtime.PageSize }

func (g *tgGen) pageOf(addr uintptr) int {
	if addr < g.base || (addr-g.base)%runtime.PageSize != 0 {
		g.fatalf("address %#x is not a trace page", addr)
	}
	return int((addr - g.base) / runtime.PageSize)
}

func tgPageJSON(page int, ok bool) string {
	if !ok {
		return "null"
	}
	return fmt.Sprint(page)
}

// ---- shadow state ----

func (g *tgGen) totalPages() int { return len(g.order) * tgChunkPages }
func (g *tgGen) freePages() int  { return g.totalPages() - g.usedPages }

func (g *tgGen) util() float64 {
	if g.totalPages() == 0 {
		return 1
	}
	return float64(g.usedPages) / float64(g.totalPages())
}

func (g *tgGen) setUsed(page, n int, used bool) {
	for p := page; p < page+n; p++ {
		bm := g.chunks[p/tgChunkPages]
		if bm == nil {
			g.fatalf("page %d is outside the heap", p)
		}
		if bm[p%tgChunkPages] == used {
			g.fatalf("shadow: page %d already has state %v", p, used)
		}
		bm[p%tgChunkPages] = used
	}
	if used {
		g.usedPages += n
	} else {
		g.usedPages -= n
	}
}

func (g *tgGen) isFree(page int) bool {
	bm := g.chunks[page/tgChunkPages]
	return bm != nil && !bm[page%tgChunkPages]
}

// firstFit returns the lowest page starting npages free pages that lie in
// consecutive existing chunks, or -1.
func (g *tgGen) firstFit(npages int) int {
	start, run, prev := 0, 0, -2
	for _, c := range g.order {
		if c != prev+1 {
			run = 0
		}
		prev = c
		bm := g.chunks[c]
		for i, used := range bm {
			if used {
				run = 0
				continue
			}
			if run == 0 {
				start = c*tgChunkPages + i
			}
			run++
			if run >= npages {
				return start
			}
		}
	}
	return -1
}

// maxRun returns the length of the longest free run (not crossing holes).
func (g *tgGen) maxRun() int {
	best, run, prev := 0, 0, -2
	for _, c := range g.order {
		if c != prev+1 {
			run = 0
		}
		prev = c
		for _, used := range g.chunks[c] {
			if used {
				run = 0
			} else {
				run++
				best = max(best, run)
			}
		}
	}
	return best
}

// checkShadow compares the shadow with the allocator's own bitmaps.
func (g *tgGen) checkShadow() {
	for _, c := range g.order {
		pd := g.pa.PallocData(runtime.ChunkIdx(g.origin + c))
		if pd == nil {
			g.fatalf("chunk %d has no bitmap", c)
		}
		bits := pd.PallocBits()
		for i, used := range g.chunks[c] {
			if (bits.PopcntRange(uint(i), 1) == 1) != used {
				g.fatalf("shadow mismatch at chunk %d page %d: shadow used=%v", c, i, used)
			}
		}
	}
}

// ---- operations (each runs on the allocator and emits one trace line) ----

// at is the trace chunk of a profile's chunk c.
func (g *tgGen) at(c int) int { return g.low + c }

func (g *tgGen) canGrow(c, k int) bool {
	if c < g.first || k < 1 || c+k > g.limit {
		return false
	}
	for i := c; i < c+k; i++ {
		if g.chunks[i] != nil {
			return false
		}
	}
	return true
}

func (g *tgGen) opGrow(c, k int) {
	if !g.canGrow(c, k) {
		g.fatalf("invalid grow %d+%d", c, k)
	}
	base := runtime.PageBase(runtime.ChunkIdx(g.origin+c), 0)
	g.pa.TraceGenGrow(base, uintptr(k)*runtime.PallocChunkPages*runtime.PageSize)
	for i := c; i < c+k; i++ {
		g.chunks[i] = make([]bool, tgChunkPages)
		g.order = append(g.order, i)
	}
	sort.Ints(g.order)
	g.emit("grow", fmt.Sprintf(`{"op": "grow", "chunk": %d, "nchunks": %d}`, c, k))
}

// growNext grows k chunks right after the highest existing chunk.
func (g *tgGen) growNext(k int) {
	c := g.low
	if len(g.order) > 0 {
		c = g.order[len(g.order)-1] + 1
	}
	g.opGrow(c, k)
}

func (g *tgGen) opAlloc(n int) (int, bool) {
	if n < 1 {
		g.fatalf("alloc of %d pages", n)
	}
	want := g.firstFit(n)
	addr, scav := g.pa.Alloc(uintptr(n))
	page, ok := 0, addr != 0
	if ok {
		page = g.pageOf(addr)
		if page != want {
			g.notFirstFit++
			g.note("alloc(%d) returned page %d, first fit is %d", n, page, want)
		}
		g.setUsed(page, n, true)
		g.live = append(g.live, tgAlloc{page: page, n: n})
	} else {
		scav = 0
		g.counts["alloc_fail"]++
		if want >= 0 {
			g.notFirstFit++
			g.note("alloc(%d) failed, first fit is %d", n, want)
		}
	}
	g.emit("alloc", fmt.Sprintf(`{"op": "alloc", "npages": %d, "expect": {"page": %s, "scav": %d}}`,
		n, tgPageJSON(page, ok), scav/runtime.PageSize))
	return page, ok
}

func (g *tgGen) opFree(page, n int) {
	g.pa.Free(g.addrOf(page), uintptr(n))
	g.setUsed(page, n, false)
	g.emit("free", fmt.Sprintf(`{"op": "free", "page": %d, "npages": %d}`, page, n))
}

// freeLive frees live allocation i, or with partial set a sub-range of it
// (preferring one that straddles a chunk boundary when it has one).
func (g *tgGen) freeLive(i int, partial bool) {
	a := g.live[i]
	g.live[i] = g.live[len(g.live)-1]
	g.live = g.live[:len(g.live)-1]
	if !partial || a.n < 2 {
		g.opFree(a.page, a.n)
		return
	}
	var off, n int
	firstBoundary := (a.page/tgChunkPages + 1) * tgChunkPages
	if firstBoundary < a.page+a.n && g.rng.Intn(2) == 0 {
		// A sub-range that contains the boundary page pair.
		lo := firstBoundary - 1 - g.rng.Intn(firstBoundary-a.page)
		hi := firstBoundary + 1 + g.rng.Intn(a.page+a.n-firstBoundary)
		off, n = lo-a.page, hi-lo
	} else {
		off = g.rng.Intn(a.n)
		n = 1 + g.rng.Intn(a.n-off)
	}
	if off == 0 && n == a.n {
		// Keep it a proper sub-range.
		if g.rng.Intn(2) == 0 {
			off, n = 1, n-1
		} else {
			n--
		}
	}
	g.freeSplit(a, off, n)
}

// freeSplit frees pages [a.page+off, a.page+off+n) of allocation a, which
// the caller has already removed from live, and keeps the remnants live.
func (g *tgGen) freeSplit(a tgAlloc, off, n int) {
	if off == 0 && n == a.n {
		g.opFree(a.page, a.n)
		return
	}
	if off > 0 {
		g.live = append(g.live, tgAlloc{page: a.page, n: off, fromCache: a.fromCache})
	}
	if rest := a.n - off - n; rest > 0 {
		g.live = append(g.live, tgAlloc{page: a.page + off + n, n: rest, fromCache: a.fromCache})
	}
	g.counts["free_partial"]++
	g.opFree(a.page+off, n)
}

// freeRandom frees a random live allocation; fromCacheBias is the chance
// of preferring one that came from a cache.
func (g *tgGen) freeRandom(partialProb, fromCacheBias float64) bool {
	if len(g.live) == 0 {
		return false
	}
	i := g.rng.Intn(len(g.live))
	if fromCacheBias > 0 && g.rng.Float64() < fromCacheBias {
		for tries := 0; tries < 8 && !g.live[i].fromCache; tries++ {
			i = g.rng.Intn(len(g.live))
		}
	}
	g.freeLive(i, g.rng.Float64() < partialProb)
	return true
}

func (g *tgGen) cacheEmpty(id int) bool {
	c := g.caches[id]
	return c == nil || c.pc.Cache() == 0
}

func (g *tgGen) pickCache(pred func(id int) bool) (int, bool) {
	var ids []int
	for id := 0; id < g.ncacheIDs; id++ {
		if pred(id) {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return 0, false
	}
	return ids[g.rng.Intn(len(ids))], true
}

func (g *tgGen) pickEmptyCache() (int, bool) { return g.pickCache(g.cacheEmpty) }

func (g *tgGen) pickFilledCache() (int, bool) {
	return g.pickCache(func(id int) bool { return g.caches[id] != nil && g.caches[id].filled })
}

func (g *tgGen) pickNonEmptyCache() (int, bool) {
	return g.pickCache(func(id int) bool { return !g.cacheEmpty(id) })
}

func (g *tgGen) opCacheFill(id int) {
	if !g.cacheEmpty(id) {
		g.fatalf("cache_fill into non-empty cache %d", id)
	}
	want := g.firstFit(1)
	pc := g.pa.AllocToCache()
	base, ok := 0, !pc.Empty()
	if ok {
		base = g.pageOf(pc.Base())
		if base%tgCachePages != 0 || want < base || want >= base+tgCachePages || pc.Cache()&(1<<(want-base)) == 0 {
			g.note("cache_fill took block at %d, first free page is %d", base, want)
		}
		if pc.Scav()&^pc.Cache() != 0 {
			g.note("cache_fill scav bits outside free bits: free=%#x scav=%#x", pc.Cache(), pc.Scav())
		}
		for i := 0; i < tgCachePages; i++ {
			if pc.Cache()&(1<<i) != 0 {
				g.setUsed(base+i, 1, true)
			}
		}
	} else {
		g.counts["cache_fill_empty"]++
		if want >= 0 {
			g.note("cache_fill returned nothing, first free page is %d", want)
		}
	}
	g.caches[id] = &tgCache{pc: pc, filled: true}
	g.emit("cache_fill", fmt.Sprintf(`{"op": "cache_fill", "cache": %d, "expect": {"base": %s, "free": "0x%016x", "scav": "0x%016x"}}`,
		id, tgPageJSON(base, ok), pc.Cache(), pc.Scav()))
}

func (g *tgGen) opCacheAlloc(id, n int) (int, bool) {
	c := g.caches[id]
	if c == nil || !c.filled || n < 1 || n > tgCachePages {
		g.fatalf("invalid cache_alloc(%d, %d)", id, n)
	}
	addr, scav := c.pc.Alloc(uintptr(n))
	page, ok := 0, addr != 0
	if ok {
		page = g.pageOf(addr)
		g.live = append(g.live, tgAlloc{page: page, n: n, fromCache: true})
	} else {
		scav = 0
		g.counts["cache_alloc_fail"]++
	}
	g.emit("cache_alloc", fmt.Sprintf(`{"op": "cache_alloc", "cache": %d, "npages": %d, "expect": {"page": %s, "scav": %d}}`,
		id, n, tgPageJSON(page, ok), scav/runtime.PageSize))
	return page, ok
}

func (g *tgGen) opCacheFlush(id int) {
	c := g.caches[id]
	if c == nil || !c.filled {
		g.fatalf("invalid cache_flush(%d)", id)
	}
	if free := c.pc.Cache(); free != 0 {
		base := g.pageOf(c.pc.Base())
		for i := 0; i < tgCachePages; i++ {
			if free&(1<<i) != 0 {
				g.setUsed(base+i, 1, false)
			}
		}
	}
	c.pc.Flush(g.pa)
	g.emit("cache_flush", fmt.Sprintf(`{"op": "cache_flush", "cache": %d}`, id))
}

func (g *tgGen) opScavenge(n int) int {
	if n < 1 {
		g.fatalf("scavenge of %d pages", n)
	}
	n = min(n, g.maxPages)
	r := g.pa.TraceGenScavenge(uintptr(n)*runtime.PageSize, g.override, g.phys, g.huge)
	if r%runtime.PageSize != 0 {
		g.fatalf("scavenge released %d bytes, not whole pages", r)
	}
	released := int(r / runtime.PageSize)
	if released > n {
		g.counts["scavenge_over"]++
	}
	if released == 0 {
		g.counts["scavenge_zero"]++
	}
	g.emit("scavenge", fmt.Sprintf(`{"op": "scavenge", "npages": %d, "expect": {"released": %d}}`, n, released))
	return released
}

// opScavengeBg is a non-forced scavenge (the background scavenger's kind).
func (g *tgGen) opScavengeBg(n int) int {
	n = min(n, g.maxPages)
	r := g.pa.TraceGenScavengeBg(uintptr(n)*runtime.PageSize, g.override, g.phys, g.huge)
	if r%runtime.PageSize != 0 {
		g.fatalf("scavenge released %d bytes, not whole pages", r)
	}
	released := int(r / runtime.PageSize)
	if released == 0 {
		g.counts["scavenge_bg_zero"]++
	}
	g.emit("scavenge_bg", fmt.Sprintf(`{"op": "scavenge", "npages": %d, "force": false, "expect": {"released": %d}}`, n, released))
	return released
}

// opPad pads free pages as the runtime pads the base of its first growth:
// in use and scavenged, owned by no allocation (never freed).
func (g *tgGen) opPad(page, n int) {
	g.pa.TraceGenPad(g.addrOf(page), uintptr(n))
	g.setUsed(page, n, true)
	g.emit("pad", fmt.Sprintf(`{"op": "pad", "page": %d, "npages": %d}`, page, n))
}

func (g *tgGen) opNextGen() {
	g.pa.TraceGenNextGen()
	g.emit("next_gen", `{"op": "next_gen"}`)
}

// tgScavenger is the trace's background scavenger (live_scavenger_test.go:
// the goroutine and the stubs the live driver runs too) and the last wake's
// answer.
type tgScavenger struct {
	*lvScavenger
	last runtime.LiveWake
}

// tgParkTimeout bounds each wait for the scavenger goroutine to park or end
// (ns); generous, as the machine may be busy.
const tgParkTimeout = int64(10e9)

// scavenger starts the trace's scavenger goroutine on first use.
func (g *tgGen) scavenger() *tgScavenger {
	if g.scav != nil {
		return g.scav
	}
	start := func(sleep func(int64) int64, scavenge func(uintptr) (uintptr, int64), shouldStop func() bool,
		procs func() int32) *runtime.LiveScavenger {
		return runtime.NewLiveScavenger(sleep, scavenge, shouldStop, procs, tgParkTimeout)
	}
	sc := newLvScavenger(g.pa, g.override, g.phys, g.huge, start)
	if sc == nil {
		g.fatalf("the background scavenger did not park within %d ns of starting", tgParkTimeout)
	}
	g.scav = &tgScavenger{lvScavenger: sc}
	return g.scav
}

// scavIntegral is the sleep controller's integral after the last wake (0
// before the first).
func (g *tgGen) scavIntegral() float64 {
	if g.scav == nil {
		return 0
	}
	return g.scav.last.Integral
}

// opScavengerWake wakes the background scavenger with the given stub settings
// and records what it did until it parked again and the pacing state it left,
// in the form the live driver answers.
func (g *tgGen) opScavengerWake(budget, nsPerPage, sleepPct, procs int) runtime.LiveWake {
	budget = min(budget, g.maxPages) // its bytes must fit a uintptr
	sc := g.scavenger()
	w, ok := sc.wake(uintptr(budget)*runtime.PageSize, int64(nsPerPage), int64(sleepPct), int32(procs),
		func(ls *runtime.LiveScavenger) (runtime.LiveWake, bool) { return ls.Wake(tgParkTimeout) })
	if !ok {
		g.fatalf("the background scavenger did not park within %d ns of a wake", tgParkTimeout)
	}
	if w.Released != sc.scavenged || w.Released%runtime.PageSize != 0 {
		g.fatalf("scavenger_wake: the runs released %d bytes, the scavenge stub %d", w.Released, sc.scavenged)
	}
	if w.Released == 0 {
		g.counts["scavenger_wake_zero"]++
	}
	if w.Cooldown > 0 {
		g.counts["scavenger_wake_cooldown"]++
	}
	b := fmt.Appendf(nil, `{"op": "scavenger_wake", "budget": %d, "ns_per_page": %d, "sleep_pct": %d, "procs": %d, `,
		budget, nsPerPage, sleepPct, procs)
	b = append(b, `"expect": `...)
	b = append(sc.appendWake(b, w), '}')
	g.emit("scavenger_wake", string(b))
	sc.last = w
	return w
}

// ---- random mixes ----

// tgMix is a weighted mix of single operations.
type tgMix struct {
	alloc, free, fill, calloc, flush, scav int
	allocSize, callocSize, scavSize        func(g *tgGen) int
	partial, fromCacheBias                 float64
	lowUtil, highUtil                      float64 // steer utilisation into this band
}

func (g *tgGen) step(m *tgMix) {
	wAlloc, wFree := m.alloc, m.free
	if u := g.util(); u > m.highUtil {
		wAlloc /= 4
		wFree *= 2
	} else if u < m.lowUtil {
		wFree /= 4
	}
	ws := []int{wAlloc, wFree, m.fill, m.calloc, m.flush, m.scav}
	total := 0
	for _, w := range ws {
		total += w
	}
	if total == 0 {
		g.opAlloc(m.allocSize(g))
		return
	}
	r := g.rng.Intn(total)
	choice := 0
	for ; r >= ws[choice]; choice++ {
		r -= ws[choice]
	}
	switch choice {
	case 1:
		if g.freeRandom(m.partial, m.fromCacheBias) {
			return
		}
	case 2:
		if id, ok := g.pickEmptyCache(); ok {
			g.opCacheFill(id)
			return
		}
		// Every cache is busy: sometimes hand out of one instead.
		if id, ok := g.pickNonEmptyCache(); ok {
			g.opCacheAlloc(id, g.callocSizeFor(m, id))
			return
		}
	case 3:
		// Mostly hand out of a cache that still has pages; sometimes use
		// any filled id, which may be empty by now (result null).
		if id, ok := g.pickNonEmptyCache(); ok && g.rng.Intn(8) != 0 {
			g.opCacheAlloc(id, g.callocSizeFor(m, id))
			return
		}
		if id, ok := g.pickFilledCache(); ok {
			g.opCacheAlloc(id, g.callocSizeFor(m, id))
			return
		}
	case 4:
		if id, ok := g.pickFilledCache(); ok {
			g.opCacheFlush(id)
			return
		}
	case 5:
		g.opScavenge(m.scavSize(g))
		return
	}
	g.opAlloc(m.allocSize(g))
}

// callocSizeFor picks a cache_alloc size for cache id; most of the time it
// is shrunk to at most the number of pages the cache still has, so that not
// too many requests fail outright.
func (g *tgGen) callocSizeFor(m *tgMix, id int) int {
	n := tgCacheSize(g)
	if m != nil && m.callocSize != nil {
		n = m.callocSize(g)
	}
	if c := g.caches[id]; c != nil {
		if free := bits.OnesCount64(c.pc.Cache()); free > 0 && n > free && g.rng.Intn(4) != 0 {
			n = 1 + g.rng.Intn(free)
		}
	}
	return n
}

// tgCacheSize: mostly single pages, sometimes up to a full cache.
func tgCacheSize(g *tgGen) int {
	switch r := g.rng.Intn(100); {
	case r < 50:
		return 1
	case r < 80:
		return 2 + g.rng.Intn(7)
	case r < 95:
		return 9 + g.rng.Intn(24)
	default:
		return 33 + g.rng.Intn(32)
	}
}

func (g *tgGen) between(lo, hi int) int { return lo + g.rng.Intn(hi-lo+1) }

// schedule runs the scripted grows when their position in the budget is
// reached; each entry is (fraction of budget, chunk or -1 for "next", k).
type tgGrowAt struct {
	at    float64
	chunk int
	k     int
}

func (g *tgGen) runWithSchedule(sched []tgGrowAt, step func()) {
	for !g.done() {
		if len(sched) > 0 && float64(g.nops) >= sched[0].at*float64(g.budget) {
			s := sched[0]
			sched = sched[1:]
			if s.chunk < 0 {
				g.growNext(s.k)
			} else if g.canGrow(g.at(s.chunk), s.k) {
				g.opGrow(g.at(s.chunk), s.k)
			}
			continue
		}
		step()
	}
}

// ensureCoverage makes sure a trace holds every operation kind: it appends
// whatever is still missing, in a valid order, if the budget was not enough.
// It is called a little before the end of the budget (early enough that
// multi-op scenario steps cannot jump past it).
func (g *tgGen) ensureCoverage() {
	if g.counts["cache_fill"] == 0 {
		if id, ok := g.pickEmptyCache(); ok {
			g.opCacheFill(id)
		}
	}
	if g.counts["cache_alloc"] == 0 {
		if id, ok := g.pickFilledCache(); ok {
			g.opCacheAlloc(id, 1)
		}
	}
	if g.counts["cache_flush"] == 0 {
		if id, ok := g.pickFilledCache(); ok {
			g.opCacheFlush(id)
		}
	}
	if g.counts["alloc"] == 0 {
		g.opAlloc(1)
	}
	if g.counts["free"] == 0 {
		g.freeRandom(0, 0)
	}
	if g.counts["scavenge"] == 0 {
		g.opScavenge(64)
	}
}

// withCoverage wraps a step so the last few ops of the budget are used to
// fill in operation kinds that did not occur.
func (g *tgGen) withCoverage(step func()) func() {
	return func() {
		if g.budget-g.nops <= 40 && !g.coverageDone {
			g.coverageDone = true
			g.ensureCoverage()
			return
		}
		step()
	}
}

// ---- profiles ----

// churn: a small heap (2-4 chunks) with many small allocations and frees.
func (g *tgGen) runChurn() {
	g.ncacheIDs = 2
	if g.rng.Intn(2) == 0 {
		g.opGrow(g.at(0), 2)
	} else {
		g.opGrow(g.at(0), 1)
		g.opGrow(g.at(1), 1)
	}
	sched := []tgGrowAt{{0.35, -1, 1}}
	if g.rng.Intn(2) == 0 {
		sched = append(sched, tgGrowAt{0.7, -1, 1})
	}
	m := &tgMix{
		alloc: 40, free: 36, fill: 4, calloc: 8, flush: 3, scav: 4,
		allocSize: func(g *tgGen) int {
			switch r := g.rng.Intn(100); {
			case r < 60:
				return g.between(1, 4)
			case r < 90:
				return g.between(5, 32)
			default:
				return g.between(33, 200)
			}
		},
		scavSize: func(g *tgGen) int {
			if g.rng.Intn(6) == 0 {
				return g.between(200, 2000)
			}
			return g.between(1, 32)
		},
		partial: 0.1, lowUtil: 0.3, highUtil: 0.85,
	}
	g.runWithSchedule(sched, g.withCoverage(func() { g.step(m) }))
}

// cross_chunk: large allocations (hundreds to thousands of pages) that span
// chunk boundaries, mixed with small ones that fragment the heap.
func (g *tgGen) runCrossChunk() {
	g.ncacheIDs = 2
	g.opGrow(g.at(0), 4)
	sched := []tgGrowAt{{0.3, -1, 2}, {0.6, -1, 4}}
	special := []int{511, 512, 513, 1023, 1024, 1025, 1536}
	m := &tgMix{
		alloc: 45, free: 35, fill: 3, calloc: 5, flush: 2, scav: 4,
		allocSize: func(g *tgGen) int {
			switch r := g.rng.Intn(100); {
			case r < 15:
				return g.between(1, 16)
			case r < 50:
				return g.between(100, 511)
			case r < 60:
				return special[g.rng.Intn(len(special))]
			case r < 85:
				return g.between(512, 1100)
			default:
				return g.between(1100, 2600)
			}
		},
		scavSize: func(g *tgGen) int { return g.between(64, 2048) },
		partial:  0.3, lowUtil: 0.2, highUtil: 0.6,
	}
	g.runWithSchedule(sched, g.withCoverage(func() { g.step(m) }))
}

// cache_heavy: several cache ids, lots of fills, 1..64-page cache
// allocations, flushes, and frees of cache-allocated pages.
func (g *tgGen) runCacheHeavy() {
	g.ncacheIDs = 6
	g.opGrow(g.at(0), 2)
	sched := []tgGrowAt{{0.5, -1, 1}}
	m := &tgMix{
		alloc: 10, free: 25, fill: 15, calloc: 35, flush: 8, scav: 5,
		allocSize: func(g *tgGen) int {
			if g.rng.Intn(4) == 0 {
				return g.between(9, 64)
			}
			return g.between(1, 8)
		},
		scavSize: func(g *tgGen) int { return g.between(1, 128) },
		partial:  0.1, fromCacheBias: 0.7, lowUtil: 0.2, highUtil: 0.9,
	}
	g.runWithSchedule(sched, g.withCoverage(func() { g.step(m) }))
}

// scavenge_heavy: cycles of filling the heap, freeing most of it, forced
// scavenges of many sizes (some larger than all free memory), then
// allocations and cache fills that pick the scavenged pages back up.
func (g *tgGen) runScavengeHeavy() {
	g.ncacheIDs = 2
	g.opGrow(g.at(0), 3)
	sched := []tgGrowAt{{0.5, -1, 1}}
	sizes := []int{1, 2, 3, 5, 8, 16, 31, 64, 100, 255, 256, 257, 511, 512, 513, 1000}
	small := &tgMix{
		alloc: 60, free: 10, fill: 8, calloc: 12, flush: 4, scav: 6,
		allocSize: func(g *tgGen) int {
			if g.rng.Intn(3) == 0 {
				return g.between(33, 300)
			}
			return g.between(1, 32)
		},
		scavSize: func(g *tgGen) int { return sizes[g.rng.Intn(len(sizes))] },
		partial:  0.2, lowUtil: 0, highUtil: 1,
	}
	phase, left := 0, 0
	target := 0.0
	step := func() {
		switch phase {
		case 0: // fill up
			if g.util() >= target || left == 0 {
				phase, left = 1, int(float64(len(g.live))*(0.4+0.55*g.rng.Float64()))
				return
			}
			left--
			g.step(small)
		case 1: // free most
			if left <= 0 || !g.freeRandom(0.15, 0) {
				phase, left = 2, g.between(2, 5)
			} else {
				left--
			}
		case 2: // scavenge of various sizes
			if left <= 0 {
				phase, left = 3, g.between(5, 25)
				return
			}
			left--
			switch r := g.rng.Intn(12); {
			case r < 2:
				g.hugePageProbe()
			case r < 8:
				g.opScavenge(sizes[g.rng.Intn(len(sizes))])
			case r < 10:
				g.opScavenge(max(1, g.freePages()+g.between(-3, 3)))
			case r < 11:
				g.opScavenge(2*g.freePages() + 1)
			default:
				g.opScavenge(1 << 20)
			}
		case 3: // re-use scavenged memory
			if left <= 0 {
				phase, left, target = 0, 400, 0.55+0.4*g.rng.Float64()
				return
			}
			left--
			g.step(small)
		}
	}
	target, left = 0.8, 400
	g.runWithSchedule(sched, g.withCoverage(step))
}

// exhaustion: allocate until failure (down to single-page failure), free a
// part, fail again, occasionally grow while exhausted.
func (g *tgGen) runExhaustion() {
	g.ncacheIDs = 2
	g.opGrow(g.at(0), 2)
	sched := []tgGrowAt{{0.3, -1, 1}, {0.65, -1, 2}}
	n := 0
	phase := 0
	step := func() {
		switch phase {
		case 0: // start a fill cycle
			n = g.between(16, 400)
			phase = 1
			fallthrough
		case 1: // fill with halving sizes until even one page fails
			if g.rng.Intn(12) == 0 {
				if id, ok := g.pickNonEmptyCache(); ok {
					g.opCacheAlloc(id, g.callocSizeFor(nil, id))
					return
				}
				if id, ok := g.pickEmptyCache(); ok {
					g.opCacheFill(id)
					return
				}
			}
			if _, ok := g.opAlloc(n); !ok {
				if n == 1 {
					phase = 2
					return
				}
				n = max(1, n/2)
			}
		case 2: // exhausted: everything fails
			switch g.rng.Intn(5) {
			case 0:
				if id, ok := g.pickEmptyCache(); ok {
					g.opCacheFill(id) // nothing left: empty cache
				} else if id, ok := g.pickFilledCache(); ok {
					g.opCacheFlush(id)
				}
			case 1:
				if id, ok := g.pickFilledCache(); ok {
					g.opCacheAlloc(id, g.callocSizeFor(nil, id))
				} else {
					g.opAlloc(1)
				}
			case 2:
				g.opScavenge(g.between(1, 600))
			default:
				g.opAlloc(g.between(1, 3))
			}
			if g.rng.Intn(3) == 0 {
				phase, n = 3, int(float64(len(g.live))*(0.1+0.4*g.rng.Float64()))
			}
		case 3: // free a part (and now and then give back a cache)
			if g.rng.Intn(10) == 0 {
				if id, ok := g.pickNonEmptyCache(); ok {
					g.opCacheFlush(id)
					return
				}
			}
			if n <= 0 || !g.freeRandom(0.2, 0) {
				phase = 4
				return
			}
			n--
		case 4: // fail again on purpose, then refill
			switch g.rng.Intn(3) {
			case 0:
				g.opAlloc(g.freePages() + g.between(1, 50))
			case 1:
				if mr := g.maxRun(); mr < g.freePages() {
					g.opAlloc(mr + 1) // enough pages, but not contiguous
				} else {
					g.opAlloc(mr + g.between(1, 8))
				}
			default:
				g.opScavenge(g.between(1, 2000))
			}
			if g.rng.Intn(2) == 0 {
				phase = 0
			}
		}
	}
	g.runWithSchedule(sched, g.withCoverage(step))
}

// sparse: chunks far apart with holes between them, grown out of order and
// in the middle of the trace; probes allocations that would only fit
// across a hole, and cache fills next to a hole.
func (g *tgGen) runSparse() {
	g.ncacheIDs = 3
	// A chunk far above (70,000 chunks on 64-bit platforms, near the top of
	// a 32-bit address space), and a pair 4 chunks past the next root-entry
	// boundary.
	far := 70000
	if g.limit-g.low < 2*far {
		far = g.limit - g.low - 50
	}
	pastRoot := g.rootChunks - g.low%g.rootChunks + 4
	g.opGrow(g.at(7), 1)
	g.opGrow(g.at(far), 1)
	// Chunk 0 arrives below everything else after some traffic; 8 extends 7
	// upwards; 5 and then 6 close the hole below 7.
	sched := []tgGrowAt{{0.08, 0, 1}, {0.2, pastRoot, 2}, {0.45, 8, 1}, {0.65, 5, 1}, {0.8, 6, 1}}
	m := &tgMix{
		alloc: 40, free: 33, fill: 6, calloc: 8, flush: 3, scav: 4,
		allocSize: func(g *tgGen) int {
			switch r := g.rng.Intn(100); {
			case r < 35:
				return g.between(1, 16)
			case r < 60:
				return g.between(17, 200)
			case r < 85:
				return g.between(200, 511)
			default:
				return g.between(512, 1100)
			}
		},
		scavSize: func(g *tgGen) int { return g.between(1, 1500) },
		partial:  0.15, lowUtil: 0.3, highUtil: 0.85,
	}
	step := func() {
		switch r := g.rng.Intn(100); {
		case r < 6:
			g.holeProbe()
		case r < 9:
			g.cacheNextToHole()
		default:
			g.step(m)
		}
	}
	g.runWithSchedule(sched, g.withCoverage(step))
}

// holeEdges lists (c, d) where chunk c exists, c+1 does not, and d is the
// next existing chunk.
func (g *tgGen) holeEdges() [][2]int {
	var out [][2]int
	for i := 0; i+1 < len(g.order); i++ {
		if g.order[i+1] != g.order[i]+1 {
			out = append(out, [2]int{g.order[i], g.order[i+1]})
		}
	}
	return out
}

// holeProbe allocates exactly as many pages as are free around a hole (the
// free tail of the chunk below plus the free head of the chunk above), a
// request that only "fits" if the allocator wrongly spans the hole.
func (g *tgGen) holeProbe() {
	edges := g.holeEdges()
	if len(edges) == 0 {
		g.opAlloc(g.between(1, 64))
		return
	}
	e := edges[g.rng.Intn(len(edges))]
	tail, head := 0, 0
	for tail < tgChunkPages && g.isFree(e[0]*tgChunkPages+tgChunkPages-1-tail) {
		tail++
	}
	for head < tgChunkPages && g.isFree(e[1]*tgChunkPages+head) {
		head++
	}
	n := tail + head
	if tail > 0 && head > 0 && g.rng.Intn(3) == 0 {
		n = max(tail, head) + 1
	}
	g.counts["hole_probe"]++
	g.opAlloc(max(1, n))
}

// cacheNextToHole pushes the lowest free page into the last cache-sized
// block of a chunk that is followed by a hole (by allocating the leading
// free runs whole) and then fills a cache there.
func (g *tgGen) cacheNextToHole() {
	edges := g.holeEdges()
	if len(edges) == 0 {
		return
	}
	below := map[int]bool{}
	for _, e := range edges {
		below[e[0]] = true
	}
	for tries := 0; tries < 24 && !g.done(); tries++ {
		f := g.firstFit(1)
		if f < 0 {
			return
		}
		c := f / tgChunkPages
		if below[c] && f%tgChunkPages >= tgChunkPages-tgCachePages {
			id, ok := g.pickEmptyCache()
			if !ok {
				id, _ = g.pickNonEmptyCache()
				g.opCacheFlush(id)
				if g.done() {
					return
				}
				// The flush may have put free pages below f again.
				continue
			}
			g.counts["cache_next_to_hole"]++
			g.opCacheFill(id)
			return
		}
		ahead := false
		for _, e := range edges {
			ahead = ahead || e[0] >= c
		}
		if !ahead {
			return // the first free page is past every hole
		}
		// Allocate the first free run, capped so we stop in the last block
		// of a chunk that ends at a hole.
		run := 0
		for g.isFree(f+run) && run < 4*tgChunkPages {
			run++
		}
		if below[c] {
			stop := c*tgChunkPages + tgChunkPages - tgCachePages + g.rng.Intn(tgCachePages)
			if f < stop && f+run > stop {
				run = stop - f
			}
		}
		if _, ok := g.opAlloc(run); !ok {
			return
		}
	}
}

// hugePageProbe scavenges everything, frees exactly one aligned 256-page
// block (the huge page size on common systems) out of a live allocation, and
// then asks the scavenger for just a page or two. With huge pages the
// scavenger releases the whole block rather than break the huge page.
func (g *tgGen) hugePageProbe() {
	const block = 256
	g.opScavenge(1 << 20)
	pick := -1
	for i, a := range g.live {
		if lo := (a.page + block - 1) / block * block; lo+block <= a.page+a.n {
			pick = i
			break
		}
	}
	if pick < 0 && !g.done() {
		if _, ok := g.opAlloc(g.between(2*block-1, 2*block+100)); ok {
			pick = len(g.live) - 1
		}
	}
	if pick < 0 || g.done() {
		return
	}
	a := g.live[pick]
	g.live[pick] = g.live[len(g.live)-1]
	g.live = g.live[:len(g.live)-1]
	lo := (a.page + block - 1) / block * block
	g.counts["huge_probe"]++
	g.freeSplit(a, lo-a.page, block)
	if !g.done() {
		g.opScavenge(g.between(1, 3))
	}
}

// background: GC cycles (next_gen) between phases of churn, with the
// background scavenger's non-forced scavenges. Large allocations make some
// chunks dense (at least 31/32 of their pages in use), which the background
// scavenger must skip for the cycle they became dense in and the next.
func (g *tgGen) runBackground() {
	g.ncacheIDs = 2
	g.opGrow(g.at(0), 4)
	sched := []tgGrowAt{{0.4, -1, 1}}
	sizes := []int{1, 3, 8, 64, 100, 256, 512, 2000}
	mix := &tgMix{
		alloc: 55, free: 30, fill: 5, calloc: 8, flush: 4, scav: 0,
		allocSize: func(g *tgGen) int {
			switch r := g.rng.Intn(10); {
			case r < 2:
				return g.between(480, 512)
			case r < 4:
				return g.between(33, 200)
			default:
				return g.between(1, 32)
			}
		},
		partial: 0.2, lowUtil: 0.3, highUtil: 0.97,
	}
	step := func() {
		switch r := g.rng.Intn(40); {
		case r < 3:
			g.opNextGen()
		case r < 9:
			g.opScavengeBg(sizes[g.rng.Intn(len(sizes))])
		case r < 10:
			g.opScavenge(sizes[g.rng.Intn(len(sizes))])
		default:
			g.step(mix)
		}
	}
	g.runWithSchedule(sched, g.withCoverage(step))
}

// padded: the heap's base padded as the runtime pads its first growth
// (markRandomPaddingPages: a random number of pages into the first chunk,
// in use and scavenged), then churn, page caches next to the padding (a
// cache's scavenged bits then name padding too), forced and background
// scavenges and GC cycles around it.
func (g *tgGen) runPadded() {
	g.ncacheIDs = 2
	g.opGrow(g.at(0), 2)
	g.opPad(g.at(0)*tgChunkPages, g.between(1, tgChunkPages-1))
	sched := []tgGrowAt{{0.5, -1, 1}}
	sizes := []int{1, 3, 8, 64, 100, 256, 512, 2000}
	mix := &tgMix{
		alloc: 45, free: 33, fill: 7, calloc: 9, flush: 5, scav: 5,
		allocSize: func(g *tgGen) int {
			if g.rng.Intn(4) == 0 {
				return g.between(33, 300)
			}
			return g.between(1, 32)
		},
		scavSize: func(g *tgGen) int { return sizes[g.rng.Intn(len(sizes))] },
		partial:  0.2, lowUtil: 0.3, highUtil: 0.9,
	}
	step := func() {
		switch r := g.rng.Intn(30); {
		case r < 2:
			g.opNextGen()
		case r < 5:
			g.opScavengeBg(sizes[g.rng.Intn(len(sizes))])
		default:
			g.step(mix)
		}
	}
	g.runWithSchedule(sched, g.withCoverage(step))
}

// top (32-bit runtimes only): the ends of the address space. Chunks on both
// sides of the boundary between the two root entries and the highest chunks a
// trace may grow come first; the lowest chunk, then runs below and above the
// boundary, arrive later, until one free run reaches from below the boundary
// to the top, and the upper root entry is grown but for its last chunk (which
// no heap maps, so a 32-bit root entry is never wholly free, and Go's packed
// encoding of a wholly free root entry never arises there). Allocations cross
// the boundary, some as long as the longest free run (and one page more), the
// heap is driven to exhaustion, and forced and background scavenges walk down
// from the top, between GC cycles.
func (g *tgGen) runTop() {
	if runtime.PageAlloc64Bit != 0 {
		g.fatalf("profile top is for 32-bit runtimes (build with GOARCH=386)")
	}
	g.ncacheIDs = 3
	boundary := g.low - g.low%g.rootChunks + g.rootChunks // trace chunk of the first root boundary above the base
	g.opGrow(boundary-2, 4)
	g.opGrow(g.limit-3, 3)
	grows := []struct {
		at   float64
		c, k int
	}{
		{0.1, g.first, 1},
		{0.25, boundary + 2, 200},
		{0.45, boundary - 302, 300},
		{0.65, boundary + 202, g.limit - 3 - (boundary + 202)},
	}
	sizes := []int{1, 8, 64, 512, 4096, 100000}
	mix := &tgMix{
		alloc: 50, free: 30, fill: 5, calloc: 6, flush: 3, scav: 4,
		allocSize: func(g *tgGen) int {
			switch r := g.rng.Intn(100); {
			case r < 30:
				return g.between(1, 32)
			case r < 50:
				return g.between(33, 600)
			case r < 70:
				return g.between(511, 4096)
			case r < 85:
				return g.between(4096, 60000)
			case r < 93:
				return max(1, g.maxRun())
			default:
				return g.maxRun() + 1
			}
		},
		scavSize: func(g *tgGen) int { return sizes[g.rng.Intn(len(sizes))] },
		partial:  0.2, lowUtil: 0.2, highUtil: 0.9,
	}
	step := func() {
		if len(grows) > 0 && float64(g.nops) >= grows[0].at*float64(g.budget) {
			if gr := grows[0]; g.canGrow(gr.c, gr.k) {
				g.opGrow(gr.c, gr.k)
			}
			grows = grows[1:]
			return
		}
		switch r := g.rng.Intn(40); {
		case r < 2:
			g.opNextGen()
		case r < 6:
			g.opScavengeBg(sizes[g.rng.Intn(len(sizes))])
		case r < 7:
			g.opScavenge(g.maxPages)
		default:
			g.step(mix)
		}
	}
	g.runWithSchedule(nil, g.withCoverage(step))
}

// The stub settings of the scavenger profile's wakes (repeats weigh a value
// more): budgets (pages) from none to "never stop", scavenge costs per page
// from cheap (a run then releases thousands of pages before its millisecond of
// work) to one call per run, timers from ones that barely sleep (the
// scavenger then looks CPU-hungry and the controller clamps its ratio at the
// minimum) to ones that sleep a hundred times longer than asked (the
// opposite), and GOMAXPROCS from 1 to 1024.
var (
	tgWakeBudgets  = []int{0, 1, 8, 9, 100, 100, 1000, 1 << 30}
	tgWakeNsPerPg  = []int{300, 1250, 10_000, 125_000, 10_000_000}
	tgWakeSleepPct = []int{0, 1, 50, 100, 100, 150, 1000, 10_000}
	tgWakeProcs    = []int{1, 1, 2, 8, 1024}
	tgWakeRepeats  = []int{1, 1, 2, 4}
)

// tgWakePages bounds what one wake is meant to release (the model scavenges 8
// pages a call): a "never stop" budget is cut to it when the heap has more
// free pages.
const tgWakePages = 3200

func (g *tgGen) wakeBudget(budget int) int {
	if budget > tgWakePages && g.freePages() > tgWakePages {
		return tgWakePages
	}
	return budget
}

// tgWild says whether stubs drive the sleep controller out of its linear
// range. At the minimum ratio (0.001) a run of worked ns (at least 1 ms, and
// a 64 KiB scavenge costs 8*ns) asks to sleep 1000*worked and sleeps pct
// percent of that, and the controller's anti-windup term then scales its
// integral by 1 - period/1e9: past a gain of 2 every such sleep flips the
// integral's sign and magnifies it, until it sticks at the maximum ratio
// (wound up until other wild stubs come) or overflows (the controller fails,
// starts over and holds the minimum ratio for a cooldown).
func tgWild(nsPerPage, sleepPct int) bool {
	worked := max(1e6, 8*float64(nsPerPage))
	return worked*(1+10*float64(sleepPct))/1e9 > 2
}

// wakeBurst wakes the background scavenger one to four times in a row with
// one set of stubs (its pacing state carries over from wake to wake, and
// from burst to burst); with calm set, it keeps to stubs that are not wild.
// So that the scavenger finds pages to release, it often first frees a few
// allocations and ends a GC cycle: a background scavenge only looks below
// its cursor, which only a new cycle raises to the highest page freed in the
// last one.
func (g *tgGen) wakeBurst(calm bool) {
	if g.rng.Intn(2) == 0 {
		for n := g.between(2, 10); n > 0 && !g.done(); n-- {
			if !g.freeRandom(0.2, 0) {
				break
			}
		}
	}
	if g.rng.Intn(3) != 0 && !g.done() {
		g.opNextGen()
	}
	pick := func(xs []int) int { return xs[g.rng.Intn(len(xs))] }
	budget := g.wakeBudget(pick(tgWakeBudgets))
	ns, pct, procs := pick(tgWakeNsPerPg), pick(tgWakeSleepPct), pick(tgWakeProcs)
	for calm && tgWild(ns, pct) {
		ns, pct = pick(tgWakeNsPerPg), pick(tgWakeSleepPct)
	}
	for n := pick(tgWakeRepeats); n > 0 && !g.done(); n-- {
		g.opScavengerWake(budget, ns, pct, procs)
	}
}

// storm wakes the scavenger with the wildest stubs (10 ms a page, sleeps a
// hundred times as long as asked, no stop) after filling most of the heap,
// freeing most of it and ending a GC cycle, so that it has hundreds of runs to
// make: its integral swings wider at every run. Up to three rounds, until a
// wake ends with a smaller integral than it began with (the integral
// overflowed, so the controller failed and started over) or finds nothing.
func (g *tgGen) storm() {
	for round := 0; round < 3 && !g.done(); round++ {
		for g.util() < 0.75 && !g.done() {
			if _, ok := g.opAlloc(g.between(200, 512)); !ok {
				break
			}
		}
		for g.util() > 0.2 && !g.done() {
			if !g.freeRandom(0, 0) {
				break
			}
		}
		if g.done() {
			return
		}
		g.opNextGen()
		if g.done() {
			return
		}
		before := math.Abs(g.scavIntegral())
		w := g.opScavengerWake(g.wakeBudget(1<<30), 10_000_000, 10_000, 1)
		if w.Released == 0 || math.Abs(w.Integral) < before {
			return
		}
	}
}

// scavenger (version 4): wakes of the background scavenger's goroutine
// (scavenger_wake) among churn that leaves free, unscavenged pages behind,
// GC cycles that age the chunks (dense chunks are skipped by background
// scavenges for the cycle they became dense in and the next), background
// scavenges of its own kind, and a few forced ones. The heap stays within
// five chunks, so even a wake that never stops releases at most that. For
// the first 45% of the op budget the wakes' stubs are calm (the controller
// stays in its linear range, or clamps at the minimum), then a storm swings
// it wide, and from there on any stubs come.
func (g *tgGen) runScavenger() {
	g.ncacheIDs = 2
	g.opGrow(g.at(0), 3)
	sched := []tgGrowAt{{0.3, -1, 1}, {0.6, -1, 1}}
	sizes := []int{1, 3, 8, 64, 256, 512, 2000}
	mix := &tgMix{
		alloc: 50, free: 38, fill: 4, calloc: 6, flush: 3, scav: 1,
		allocSize: func(g *tgGen) int {
			switch r := g.rng.Intn(10); {
			case r < 1:
				return g.between(400, 512)
			case r < 4:
				return g.between(33, 200)
			default:
				return g.between(1, 32)
			}
		},
		scavSize: func(g *tgGen) int { return sizes[g.rng.Intn(len(sizes))] },
		partial:  0.2, lowUtil: 0.25, highUtil: 0.8,
	}
	stormed := false
	step := func() {
		if !stormed && float64(g.nops) >= 0.45*float64(g.budget) {
			stormed = true
			g.storm()
			return
		}
		switch r := g.rng.Intn(40); {
		case r < 2:
			g.opNextGen()
		case r < 4:
			g.opScavengeBg(sizes[g.rng.Intn(len(sizes))])
		case r < 8:
			g.wakeBurst(!stormed)
		default:
			g.step(mix)
		}
	}
	g.runWithSchedule(sched, g.withCoverage(step))
}
