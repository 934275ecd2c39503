// heapgc builds a heap described by the oracle in the real Go runtime and
// lets the runtime's garbage collector judge it. It is part of the
// gomem-reference oracle (oracle/gc/gomark.py builds and runs it); it is not a
// copy of any runtime code.
//
//	heapgc mark  HEAPFILE   which objects two runtime.GC() cycles collect, and which finalizers ran
//	heapgc bench HEAPFILE REPS   wall time of runtime.GC() with the heap live
//	heapgc noscan REPS      20 slices of []*int64 against []int64: a benchmark loop and runtime.GC() alone
//
// HEAPFILE is the oracle's binary heap (see readHeap). Every object is
// allocated with reflect.New of a type built for its layout: a pointer-free
// object is a [size]byte array, so it lands in a noscan span; an object with
// pointers is a struct whose words are unsafe.Pointer at the snapshot's slot
// offsets and uintptr elsewhere. Roots are held by a package-level slice,
// and everything else is reachable only through heap pointers: the slice of
// all objects used while building is dropped before the first collection.
// Results are printed as one JSON object on stdout.
package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
	"weak"
)

const magic = "GCHEAP01"

// heapFile is the oracle's heap: little-endian arrays after an 8-byte magic
// and four int64 counts n (objects), m (slots), k (roots), f (finalizers):
// size int32[n], noscan uint8[n], indptr int64[n+1], offsets int32[m],
// targets int32[m] (-1 for nil), roots int32[k], finalizers int32[f].
type heapFile struct {
	size       []int32
	noscan     []uint8
	indptr     []int64
	offsets    []int32
	targets    []int32
	roots      []int32
	finalizers []int32
}

func readHeap(path string) (*heapFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(data) < 40 || string(data[:8]) != magic {
		return nil, errors.New("not a heap file (bad magic)")
	}
	var counts [4]int
	for i := range counts {
		counts[i] = int(binary.LittleEndian.Uint64(data[8+8*i:]))
	}
	n, m, k, f := counts[0], counts[1], counts[2], counts[3]
	pos := 40
	take := func(bytes int) []byte {
		if pos+bytes > len(data) {
			panic("heap file is truncated")
		}
		b := data[pos : pos+bytes]
		pos += bytes
		return b
	}
	h := &heapFile{}
	h.size = int32s(take(4 * n))
	h.noscan = take(n)
	pos = (pos + 7) &^ 7
	h.indptr = int64s(take(8 * (n + 1)))
	h.offsets = int32s(take(4 * m))
	h.targets = int32s(take(4 * m))
	h.roots = int32s(take(4 * k))
	h.finalizers = int32s(take(4 * f))
	return h, nil
}

func int32s(b []byte) []int32 {
	if len(b) == 0 {
		return nil
	}
	out := make([]int32, len(b)/4)
	for i := range out {
		out[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

func int64s(b []byte) []int64 {
	out := make([]int64, len(b)/8)
	for i := range out {
		out[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
	}
	return out
}

// roots holds the heap's roots for as long as the program runs.
var roots []unsafe.Pointer

var (
	ptrType    = reflect.TypeFor[unsafe.Pointer]()
	scalarType = reflect.TypeFor[uintptr]()
	byteType   = reflect.TypeFor[byte]()
	typeCache  = map[string]reflect.Type{}
)

// typeFor returns a type of exactly size bytes with pointers exactly at offs
// (none for a noscan object).
func typeFor(size int32, noscan bool, offs []int32) reflect.Type {
	key := strconv.Itoa(int(size)) + "/" + strconv.FormatBool(noscan) + "/" + fmt.Sprint(offs)
	if t, ok := typeCache[key]; ok {
		return t
	}
	var t reflect.Type
	if noscan {
		t = reflect.ArrayOf(int(size), byteType)
	} else {
		isPtr := make([]bool, size/8)
		for _, off := range offs {
			isPtr[off/8] = true
		}
		var fields []reflect.StructField
		for w := 0; w < len(isPtr); {
			run := 1
			for w+run < len(isPtr) && isPtr[w+run] == isPtr[w] {
				run++
			}
			elem := scalarType
			if isPtr[w] {
				elem = ptrType
			}
			fields = append(fields, reflect.StructField{Name: "F" + strconv.Itoa(w), Type: reflect.ArrayOf(run, elem)})
			w += run
		}
		t = reflect.StructOf(fields)
	}
	if t.Size() != uintptr(size) {
		panic(fmt.Sprintf("type for %d bytes has size %d", size, t.Size()))
	}
	typeCache[key] = t
	return t
}

var (
	finalized []atomic.Bool
	finCount  atomic.Int64
)

// build allocates the heap, links it, fills roots, and optionally makes weak
// pointers and sets finalizers. Its frame, and the slice of all objects,
// are gone when it returns.
//
// The objects are allocated in one loop that allocates nothing else (types,
// slices and reflect's caches are made before it), right after a collection,
// whose mark termination leaves the P without a tiny block: so the tiny
// objects among them share 16-byte blocks exactly as the oracle's tiny
// allocator packs them, in order (in mark mode GOMAXPROCS is 1, so every
// object comes from the one P's cache). After the loop the P moves on to a
// fresh tiny block (retireTinyBlock), so no block holding heap objects is the
// P's tiny block when the next cycle starts, which would keep it alive.
//
//go:noinline
func build(h *heapFile, withWeak, withFinalizers bool) []weak.Pointer[byte] {
	n := len(h.size)
	objs := make([]unsafe.Pointer, n)
	types := make([]reflect.Type, n)
	for i := 0; i < n; i++ {
		types[i] = typeFor(h.size[i], h.noscan[i] != 0, h.offsets[h.indptr[i]:h.indptr[i+1]])
		reflect.New(types[i]) // makes reflect cache the pointer type now, not in the loop below
	}
	roots = make([]unsafe.Pointer, len(h.roots))
	var weaks []weak.Pointer[byte]
	if withWeak {
		weaks = make([]weak.Pointer[byte], n)
	}
	if withFinalizers {
		finalized = make([]atomic.Bool, n)
	}
	runtime.GC()
	for i := 0; i < n; i++ {
		objs[i] = reflect.New(types[i]).UnsafePointer()
	}
	retireTinyBlock()
	for i := 0; i < n; i++ {
		for j := h.indptr[i]; j < h.indptr[i+1]; j++ {
			if t := h.targets[j]; t >= 0 {
				*(*unsafe.Pointer)(unsafe.Add(objs[i], h.offsets[j])) = objs[t]
			}
		}
	}
	for i, r := range h.roots {
		roots[i] = objs[r]
	}
	if withWeak {
		for i := range objs {
			if h.size[i] > 0 { // a zero-size object is the runtime's zerobase, not in the heap
				weaks[i] = weak.Make((*byte)(objs[i]))
			}
		}
	}
	if withFinalizers {
		for _, f := range h.finalizers {
			id := int(f)
			obj := reflect.NewAt(types[id], objs[id]).Interface()
			runtime.SetFinalizer(obj, func(any) {
				finalized[id].Store(true)
				finCount.Add(1)
			})
		}
	}
	return weaks
}

var tinySink *byte

// retireTinyBlock makes the P take a tiny block of its own: one-byte objects
// fill whatever block is current (at most 16 of them), and the next starts a
// fresh block which, having more room, becomes the P's tiny block.
//
//go:noinline
func retireTinyBlock() {
	for i := 0; i < 17; i++ {
		tinySink = new(byte)
	}
	tinySink = nil
}

// collected reports which weak pointers are nil now (zero-size objects have
// none and are never collected).
//
//go:noinline
func collected(weaks []weak.Pointer[byte], h *heapFile) []int {
	var out []int
	for i := range weaks {
		if h.size[i] > 0 && weaks[i].Value() == nil {
			out = append(out, i)
		}
	}
	return out
}

func runMark(path string) map[string]any {
	h, err := readHeap(path)
	if err != nil {
		fail(err)
	}
	debug.SetGCPercent(-1)
	runtime.GOMAXPROCS(1) // one P allocates every object, as the oracle's snapshot says (p 0)
	weaks := build(h, true, true)
	isFin := make([]bool, len(h.size))
	for _, f := range h.finalizers {
		isFin[f] = true
	}
	runtime.GC()
	first := collected(weaks, h)
	want := int64(0)
	for _, i := range first {
		if isFin[i] {
			want++
		}
	}
	// The finalizer goroutine runs the finalizers the first cycle queued.
	deadline := time.Now().Add(20 * time.Second)
	for finCount.Load() < want && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	var ran []int
	for i := range finalized {
		if finalized[i].Load() {
			ran = append(ran, i)
		}
	}
	runtime.GC()
	second := collected(weaks, h)
	runtime.KeepAlive(roots)
	return map[string]any{
		"go":         runtime.Version(),
		"collected1": nonNil(first),
		"finalized":  nonNil(ran),
		"collected2": nonNil(second),
	}
}

func nonNil(s []int) []int {
	if s == nil {
		return []int{}
	}
	sort.Ints(s)
	return s
}

func runBench(path string, reps int) map[string]any {
	h, err := readHeap(path)
	if err != nil {
		fail(err)
	}
	debug.SetGCPercent(-1)
	buildStart := time.Now()
	build(h, false, false)
	buildSeconds := time.Since(buildStart).Seconds()
	h = nil
	runtime.GC() // frees what building left behind, so the measured cycles see only the heap
	var times []float64
	var cycles []uint32
	var ms runtime.MemStats
	for r := 0; r < reps; r++ {
		start := time.Now()
		runtime.GC()
		times = append(times, time.Since(start).Seconds())
		runtime.ReadMemStats(&ms)
		cycles = append(cycles, ms.NumGC)
	}
	runtime.KeepAlive(roots)
	return map[string]any{
		"go":            runtime.Version(),
		"gomaxprocs":    runtime.GOMAXPROCS(0),
		"build_seconds": buildSeconds,
		"gc_seconds":    times,
		"gc_numbers":    cycles,
		"heap_alloc":    ms.HeapAlloc,
	}
}

// The noscan measurement: 20 slices of 10,000 elements, *int64 against int64.

var a int64 = 1000

// kept holds the slices in the "retained" variant, so the collector must mark them.
var (
	keptPtrs [][]*int64
	keptInts [][]int64
)

//go:noinline
func generateIntSlice(n int64) []int64 {
	ret := make([]int64, 0, n)
	for i := int64(0); i < n; i++ {
		ret = append(ret, a)
	}
	return ret
}

//go:noinline
func generatePtrSlice(n int64) []*int64 {
	ret := make([]*int64, 0, n)
	for i := int64(0); i < n; i++ {
		ret = append(ret, &a)
	}
	return ret
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func timeGC(reps int, prepare func()) float64 {
	var times []float64
	for r := 0; r < reps; r++ {
		prepare()
		start := time.Now()
		runtime.GC()
		times = append(times, time.Since(start).Seconds())
	}
	return median(times)
}

func runNoscan(reps int) map[string]any {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	const slices, length = 20, 10000
	runtime.GC()
	// The benchmark loop: allocate 20 slices, drop them, runtime.GC(); sec/op of the whole loop.
	loopPtr := testing.Benchmark(func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			for j := 0; j < slices; j++ {
				generatePtrSlice(length)
			}
			runtime.GC()
		}
	})
	loopInt := testing.Benchmark(func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			for j := 0; j < slices; j++ {
				generateIntSlice(length)
			}
			runtime.GC()
		}
	})
	// The GC alone, slices dropped (garbage: never scanned).
	garbagePtr := timeGC(reps, func() {
		for j := 0; j < slices; j++ {
			generatePtrSlice(length)
		}
	})
	garbageInt := timeGC(reps, func() {
		for j := 0; j < slices; j++ {
			generateIntSlice(length)
		}
	})
	// The GC alone, slices kept live by a global: the collector must mark them, and scan the pointer ones.
	keptPtrs = nil
	for j := 0; j < slices; j++ {
		keptPtrs = append(keptPtrs, generatePtrSlice(length))
	}
	runtime.GC()
	livePtr := timeGC(reps, func() {})
	keptPtrs = nil
	for j := 0; j < slices; j++ {
		keptInts = append(keptInts, generateIntSlice(length))
	}
	runtime.GC()
	liveInt := timeGC(reps, func() {})
	keptInts = nil
	return map[string]any{
		"go":                     runtime.Version(),
		"gomaxprocs":             runtime.GOMAXPROCS(0),
		"loop_ptr_ns_per_op":     loopPtr.NsPerOp(),
		"loop_int_ns_per_op":     loopInt.NsPerOp(),
		"loop_ptr_n":             loopPtr.N,
		"loop_int_n":             loopInt.N,
		"gc_garbage_ptr_seconds": garbagePtr,
		"gc_garbage_int_seconds": garbageInt,
		"gc_live_ptr_seconds":    livePtr,
		"gc_live_int_seconds":    liveInt,
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "heapgc:", err)
	os.Exit(2)
}

func main() {
	if len(os.Args) < 2 {
		fail(errors.New("usage: heapgc mark HEAP | bench HEAP REPS | noscan REPS"))
	}
	var out map[string]any
	switch os.Args[1] {
	case "mark":
		out = runMark(os.Args[2])
	case "bench":
		reps, err := strconv.Atoi(os.Args[3])
		if err != nil {
			fail(err)
		}
		out = runBench(os.Args[2], reps)
	case "noscan":
		reps, err := strconv.Atoi(os.Args[2])
		if err != nil {
			fail(err)
		}
		out = runNoscan(reps)
	default:
		fail(fmt.Errorf("unknown mode %q", os.Args[1]))
	}
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(out); err != nil {
		fail(err)
	}
}
