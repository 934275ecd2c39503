// Span-path driver, test side (not part of the Go distribution).
//
// oracle/gc/spanpath.py runs package runtime's test binary built with this
// file and spanpath_export_test.go overlaid:
//
//	GOMAXPROCS=1 SPANPATH_OPS=ops.txt SPANPATH_OUT=out.jsonl runtime.test -test.run='^TestSpanPath$'
//
// TestSpanPath does nothing unless SPANPATH_OPS is set. It reads every
// operation first (one per line; g a global, r a register, -1 nil):
//
//	m G SIZE NOSCAN   malloc SIZE bytes (NOSCAN 1: no pointers) into global G
//	gl R G            register R = global G
//	gs G R            global G = register R
//	ld R S OFF        register R = word OFF of the object in register S
//	st R OFF S        word OFF of the object in register R = register S
//	cp R S            register R = register S
//	gc                a whole cycle, spans left unswept
//	so                one step of the background sweeper
//	fs                sweep termination
//
// then turns GOGC off, calls runtime.SpBegin, runs them all, and after each
// writes a JSON line into a buffer allocated beforehand (strconv's Append
// functions into spare capacity allocate nothing, so the driver's own
// bookkeeping never allocates while it runs), then SpEnd, then writes the
// buffer to SPANPATH_OUT. The first line is a header:
//
//	{"go": VERSION, "page_shift": 13, "pages_per_arena": N, "arenas": [addr, ...]}
//
// and each operation's line holds what it returned ("place": [span base,
// slot, offset] for m, "pages" for so, "swept" for fs, "arenas" and
// "page_marks" (the bases of the spans whose page mark is set) for gc),
// then "spans": [[base, class, npages, sweepgen - mheap sweepgen, freeindex,
// allocCount, nelems, where, "allocBits in hex, slot 0 lowest"], ...] for
// every span P 0 caches (where 0) or the central sets hold (where 1..4:
// partial swept, partial unswept, full swept, full unswept), "sets":
// [[class, set, base], ...] in queue order, and "tiny": [base, slot, offset]
// or null. A failure is a line {"error": "..."} and the end of the output.

package runtime_test

import (
	"bufio"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
)

type spOp struct {
	kind    string
	a, b, c int64
}

const (
	spOutBytes = 256 << 20
	spMaxSpans = 4096
)

func TestSpanPath(t *testing.T) {
	opsPath := os.Getenv("SPANPATH_OPS")
	if opsPath == "" {
		t.Skip("SPANPATH_OPS is not set")
	}
	ops, err := spRead(opsPath)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, 0, spOutBytes)
	spans := make([]runtime.SpSpan, spMaxSpans)
	sets := make([]runtime.SpSetEntry, spMaxSpans)
	arenas := make([]uintptr, 1024)
	var tiny runtime.SpTiny
	out = append(out, `{"go": "`...)
	out = append(out, runtime.Version()...)
	out = append(out, `", "page_shift": 13, "pages_per_arena": `...)
	out = strconv.AppendInt(out, int64(runtime.SpPagesPerArena), 10)
	old := debug.SetGCPercent(-1)
	defer debug.SetGCPercent(old)
	if why := runtime.SpBegin(); why != "" {
		t.Fatal(why)
	}
	out = spAppendArenas(append(out, `, "arenas": `...), arenas)
	out = append(out, "}\n"...)
	failed := ""
	for _, op := range ops {
		if len(out) > spOutBytes-(1<<20) {
			failed = "output buffer full"
			break
		}
		out = append(out, '{')
		switch op.kind {
		case "m":
			base, index, offset := runtime.SpMalloc(int(op.a), uintptr(op.b), op.c != 0)
			out = append(out, `"place": [`...)
			out = strconv.AppendUint(out, uint64(base), 10)
			out = append(out, ", "...)
			out = strconv.AppendUint(out, uint64(index), 10)
			out = append(out, ", "...)
			out = strconv.AppendUint(out, uint64(offset), 10)
			out = append(out, "], "...)
		case "gl":
			runtime.SpGLoad(int(op.a), int(op.b))
		case "gs":
			runtime.SpGStore(int(op.a), int(op.b))
		case "ld":
			runtime.SpLoad(int(op.a), int(op.b), uintptr(op.c))
		case "st":
			runtime.SpStore(int(op.a), uintptr(op.b), int(op.c))
		case "cp":
			runtime.SpCopy(int(op.a), int(op.b))
		case "gc":
			if why := runtime.SpGC(); why != "" {
				failed = why
			}
			out = spAppendArenas(append(out, `"arenas": `...), arenas)
			out = append(out, ", "...)
		case "so":
			out = append(out, `"pages": `...)
			out = strconv.AppendInt(out, runtime.SpSweepOne(), 10)
			out = append(out, ", "...)
		case "fs":
			out = append(out, `"swept": `...)
			out = strconv.AppendInt(out, int64(runtime.SpFinishSweep()), 10)
			out = append(out, ", "...)
		}
		if failed != "" {
			break
		}
		nspans, nsets := runtime.SpDump(spans, sets, &tiny)
		if nspans < 0 {
			failed = "too many spans to dump"
			break
		}
		out = append(out, `"spans": [`...)
		for i, s := range spans[:nspans] {
			if i > 0 {
				out = append(out, ", "...)
			}
			out = append(out, '[')
			for k, v := range [...]int64{int64(s.Base), int64(s.Class), int64(s.NPages), int64(s.SweepRel),
				int64(s.FreeIndex), int64(s.Count), int64(s.Nelems), int64(s.Where)} {
				if k > 0 {
					out = append(out, ", "...)
				}
				out = strconv.AppendInt(out, v, 10)
			}
			out = append(out, `, "`...)
			out = spAppendBits(out, &s.Bits, int(s.Nelems))
			out = append(out, `"]`...)
		}
		if op.kind == "gc" {
			out = append(out, `], "page_marks": [`...)
			first := true
			for _, s := range spans[:nspans] {
				if s.PageMark {
					if !first {
						out = append(out, ", "...)
					}
					first = false
					out = strconv.AppendUint(out, uint64(s.Base), 10)
				}
			}
		}
		out = append(out, `], "sets": [`...)
		for i, e := range sets[:nsets] {
			if i > 0 {
				out = append(out, ", "...)
			}
			out = append(out, '[')
			out = strconv.AppendInt(out, int64(e.Class), 10)
			out = append(out, ", "...)
			out = strconv.AppendInt(out, int64(e.Set), 10)
			out = append(out, ", "...)
			out = strconv.AppendUint(out, uint64(e.Base), 10)
			out = append(out, ']')
		}
		out = append(out, `], "tiny": `...)
		if tiny.Base == 0 {
			out = append(out, "null"...)
		} else {
			out = append(out, '[')
			out = strconv.AppendUint(out, uint64(tiny.Base), 10)
			out = append(out, ", "...)
			out = strconv.AppendUint(out, uint64(tiny.Index), 10)
			out = append(out, ", "...)
			out = strconv.AppendUint(out, uint64(tiny.Offset), 10)
			out = append(out, ']')
		}
		out = append(out, "}\n"...)
	}
	runtime.SpEnd()
	if failed != "" {
		out = append(out, `{"error": `...)
		out = strconv.AppendQuote(out, failed)
		out = append(out, "}\n"...)
	}
	if err := os.WriteFile(os.Getenv("SPANPATH_OUT"), out, 0o644); err != nil {
		t.Fatal(err)
	}
}

func spAppendArenas(out []byte, arenas []uintptr) []byte {
	n := runtime.SpArenas(arenas)
	out = append(out, '[')
	for i := 0; i < n && i < len(arenas); i++ {
		if i > 0 {
			out = append(out, ", "...)
		}
		out = strconv.AppendUint(out, uint64(arenas[i]), 10)
	}
	return append(out, ']')
}

// spAppendBits writes nelems bits as hex digits, slot 0 in the lowest bit of the last digit.
func spAppendBits(out []byte, bits *[runtime.SpBitsWords]uint64, nelems int) []byte {
	digits := (nelems + 3) / 4
	if digits == 0 {
		return append(out, '0')
	}
	for d := digits - 1; d >= 0; d-- {
		bit := d * 4
		v := (bits[bit/64] >> (bit % 64)) & 0xf
		out = append(out, "0123456789abcdef"[v])
	}
	return out
}

func spRead(path string) ([]spOp, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ops []spOp
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) == 0 {
			continue
		}
		op := spOp{kind: fields[0]}
		var nums [3]int64
		for i, field := range fields[1:] {
			if i >= 3 {
				break
			}
			v, err := strconv.ParseInt(field, 10, 64)
			if err != nil {
				return nil, err
			}
			nums[i] = v
		}
		op.a, op.b, op.c = nums[0], nums[1], nums[2]
		ops = append(ops, op)
	}
	return ops, scanner.Err()
}
