// Command mutgen generates single-point mutants of the Go runtime's page
// allocator and writes instrumented copies of its sources in which every
// mutant is compiled in, each behind its own gate (not part of the Go
// distribution; oracle/golive/systematic.py builds and runs it).
//
//	mutgen -runtime $GOROOT/src/runtime -out DIR -files a.go,b.go -tests a_test.go [-exclude IDS]
//
// Mutants. In every function body of the -files, each mutation point gets
// one mutant per variant of its operator:
//
//	relational       <  <=  >  >=  swap their boundary (< and <=, > and >=); == and != swap
//	logical          && and || swap
//	literal+1/-1     an integer literal one more / one less
//	result+1/-1      an arithmetic result (+ - * / %, the outermost of a chain; x += e too) plus / minus one
//	shift-direction  << and >> swap
//	shift+1/-1       a shift amount that is neither a literal nor arithmetic, plus / minus one
//	negate           the condition of an if or for, negated
//	delete           a call, assignment, ++ or -- statement, removed
//
// Redundant variants are not generated: a literal inside a chain of + and -
// whose result gets its own ±1 (a ±1 there is the same program), a shift
// amount that is a literal or arithmetic, the negation of a single == or !=.
// Diagnostics (print, println, throw and assertions) are not mutated.
//
// Ids are assigned in a fixed order (file, then source order, then the
// operator's variants), so they are stable for a given Go tree; -exclude
// leaves ids out of the instrumented files (the ones that do not compile)
// without renumbering the others.
//
// Gating. A mutant runs only when mutOn(id) says so (oracle/golive/go/mutant_gate.go):
//
//	statement    if mutOn(7) { <mutated> } else if mutOn(8) { <mutated> } else { <original> }
//	declaration  x := <original>; if mutOn(7) { x = <mutated> } else if ...   (right side evaluated again
//	             only under mutant 7, and only when it is free of side effects; otherwise skipped)
//	condition    (mutOn(7) && (<mutated>)) || ... || (!mutIn(7, 9) && (<original>))
//
// so exactly one version of the code is evaluated (the declaration form
// evaluates a side-effect-free right side twice under its own mutants). In a
// function that can tell a test-mode allocator from the runtime's own (a
// receiver or parameter of type *pageAlloc or *scavengeIndex, or a bool
// parameter named test) the gate also requires that data check (p.test), so
// the runtime's own heap stays on the original code there. An if or for
// whose init statement carries mutants is put in a block with the init
// hoisted before it. Mutation points that cannot be gated this way are
// skipped and counted by reason in the catalog: constant declarations, for
// post statements, range expressions, switch tags and cases, declarations
// whose right side has side effects or reads the names it declares, loop
// variables a closure may capture, blank assignments, and code that only
// the runtime's own heap runs (the body of `if !p.test`, the else of `if p.test`).
//
// Tests. In each of the -tests (package runtime_test), the body of every
// Test function and of every function literal passed to t.Run opens with
// `defer MutantTestUngate(MutantTestGate())`, which gates the test's
// goroutine (and the goroutines it starts) for the body's duration.
//
// Output: DIR/<file> for each of -files and -tests, and DIR/catalog.json:
// every mutant (id, file, function, line, operator, original and mutated
// text, the form and data check of its gate, and where its mutated code is
// in the instrumented file), the skipped points by reason, and the gated
// tests.
//
// It is one file, longer than most, because it is one small main package
// that systematic.py builds from a single path; its three parts (finding
// units and points, rendering, gating tests) are marked by ---- lines.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Mutant is one entry of the catalog.
type Mutant struct {
	ID      int    `json:"id"`
	File    string `json:"file"`
	Func    string `json:"func"`
	Line    int    `json:"line"`
	Op      string `json:"op"`
	Orig    string `json:"orig"`
	Mutated string `json:"mutated"`
	Form    string `json:"form"`            // statement, declaration or condition
	Check   string `json:"check,omitempty"` // the data check of its gate, if any
	Out     []Span `json:"out"`             // where its mutated code is in the instrumented file (none: excluded)

	edits []edit // on the original source: what turns the unit's text into the mutant's
}

// Span is a range of the instrumented file, 1-based lines and byte columns, end exclusive.
type Span struct {
	Line    int `json:"line"`
	Col     int `json:"col"`
	EndLine int `json:"end_line"`
	EndCol  int `json:"end_col"`
}

type edit struct {
	start, end int // byte offsets in the original source; start == end inserts
	text       string
}

// A unit is the piece of code one gate wraps: a simple statement, a
// declaration or a condition, with all the mutants of its mutation points.
type unit struct {
	form       string // statement, declaration, condition
	start, end int    // the span the gated code replaces
	check      string
	muts       []*Mutant
	// declarations: the assigned names and the right side
	lhs              string
	rhsStart, rhsEnd int
	deletable        bool // a deletion mutant is generated
}

// A region is a span of the original source rendered differently in the instrumented file.
type region struct {
	start, end int
	render     func() string
}

type catalog struct {
	Files   []string            `json:"files"`
	Mutants []*Mutant           `json:"mutants"`
	Skipped map[string]int      `json:"skipped"`
	Tests   map[string][]string `json:"tests"`
}

type fileGen struct {
	name     string
	src      []byte
	fset     *token.FileSet
	file     *ast.File
	fn       string
	check    string
	units    []*unit
	hoists   []*hoist
	cat      *catalog
	excluded map[int]bool
	nextID   *int
	regions  []region
}

// A hoist puts an if or for into a block with its init statement before it.
type hoist struct {
	start, end       int // the statement (with its label, for a labeled for)
	cutStart, cutEnd int // the init text removed from the statement
	init             *unit
}

var (
	diagnostics = map[string]bool{
		"print": true, "println": true, "throw": true, "printlock": true, "printunlock": true,
		"assertLockHeld": true, "assertWorldStoppedOrLockHeld": true, "hex": true,
	}
	pureFuncs = map[string]bool{
		"chunkIndex": true, "chunkBase": true, "chunkPageIndex": true, "alignUp": true, "alignDown": true,
		"divRoundUp": true, "offAddrToLevelIndex": true, "levelIndexToOffAddr": true,
		"addrsToSummaryRange": true, "blockAlignSummaryRange": true, "packPallocSum": true,
		"mergeSummaries": true, "fillAligned": true, "findBitRange64": true, "min": true, "max": true,
		"len": true, "cap": true, "maxSearchAddr": true, "makeAddrRange": true, "unpackScavChunkData": true,
		"isInf": true, "isNaN": true, "TrailingZeros64": true, "LeadingZeros64": true, "OnesCount64": true,
		"uint": true, "uint8": true, "uint16": true, "uint32": true, "uint64": true, "uintptr": true,
		"int": true, "int32": true, "int64": true, "float64": true, "chunkIdx": true, "pallocSum": true,
		"offAddr": true, "Pointer": true, "Sizeof": true,
	}
	pureMethods = map[string]bool{
		"start": true, "max": true, "end": true, "unpack": true, "chunkOf": true, "tryChunkOf": true,
		"summarize": true, "popcntRange": true, "find": true, "find1": true, "findSmallN": true,
		"findLargeN": true, "pages64": true, "block64": true, "get": true, "load": true, "Load": true,
		"addr": true, "lessThan": true, "lessEqual": true, "add": true, "diff": true, "isEmpty": true,
		"shouldScavenge": true, "pack": true, "findScavengeCandidate": true, "findMappedAddr": true,
		"empty": true,
	}
	relSwap = map[token.Token]token.Token{
		token.LSS: token.LEQ, token.LEQ: token.LSS, token.GTR: token.GEQ, token.GEQ: token.GTR,
		token.EQL: token.NEQ, token.NEQ: token.EQL,
	}
)

func main() {
	runtimeDir := flag.String("runtime", "", "the runtime's source folder ($GOROOT/src/runtime)")
	out := flag.String("out", "", "where the instrumented files and catalog.json go")
	files := flag.String("files", "", "comma-separated sources to mutate")
	tests := flag.String("tests", "", "comma-separated test files whose tests are gated")
	exclude := flag.String("exclude", "", "a file of mutant ids (one a line) to leave out")
	flag.Parse()
	if *runtimeDir == "" || *out == "" || *files == "" {
		fail("usage: mutgen -runtime DIR -out DIR -files a.go,b.go [-tests x_test.go] [-exclude FILE]")
	}
	excluded := map[int]bool{}
	if *exclude != "" {
		data, err := os.ReadFile(*exclude)
		if err != nil {
			fail("%v", err)
		}
		for _, field := range strings.Fields(string(data)) {
			id, err := strconv.Atoi(field)
			if err != nil {
				fail("-exclude: %q is not an id", field)
			}
			excluded[id] = true
		}
	}
	cat := &catalog{Skipped: map[string]int{}, Tests: map[string][]string{}, Mutants: []*Mutant{}}
	next := 1
	for _, name := range strings.Split(*files, ",") {
		g := &fileGen{name: name, cat: cat, excluded: excluded, nextID: &next}
		g.load(filepath.Join(*runtimeDir, name))
		g.generate()
		g.write(filepath.Join(*out, name))
		cat.Files = append(cat.Files, name)
	}
	if *tests != "" {
		for _, name := range strings.Split(*tests, ",") {
			gateTests(filepath.Join(*runtimeDir, name), filepath.Join(*out, name), name, cat)
		}
	}
	data, err := json.MarshalIndent(cat, "", " ")
	if err != nil {
		fail("%v", err)
	}
	if err := os.WriteFile(filepath.Join(*out, "catalog.json"), data, 0o644); err != nil {
		fail("%v", err)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "mutgen: "+format+"\n", args...)
	os.Exit(2)
}

func (g *fileGen) load(path string) {
	src, err := os.ReadFile(path)
	if err != nil {
		fail("%v", err)
	}
	g.src = src
	g.fset = token.NewFileSet()
	g.file, err = parser.ParseFile(g.fset, path, src, parser.ParseComments)
	if err != nil {
		fail("%v", err)
	}
}

func (g *fileGen) off(p token.Pos) int { return g.fset.Position(p).Offset }

func (g *fileGen) text(n ast.Node) string { return string(g.src[g.off(n.Pos()):g.off(n.End())]) }

func (g *fileGen) skip(reason string, n int) {
	if n > 0 {
		g.cat.Skipped[reason] += n
	}
}

// ---- finding units and mutation points ----

func (g *fileGen) generate() {
	for _, decl := range g.file.Decls {
		fd, ok := decl.(*ast.FuncDecl)
		if !ok || fd.Body == nil {
			continue
		}
		g.fn = funcName(fd)
		g.check = dataCheck(fd)
		g.stmts(fd.Body.List)
	}
}

func funcName(fd *ast.FuncDecl) string {
	if fd.Recv == nil || len(fd.Recv.List) == 0 {
		return fd.Name.Name
	}
	t := fd.Recv.List[0].Type
	if star, ok := t.(*ast.StarExpr); ok {
		t = star.X
	}
	if idx, ok := t.(*ast.IndexExpr); ok {
		t = idx.X
	}
	if id, ok := t.(*ast.Ident); ok {
		return id.Name + "." + fd.Name.Name
	}
	return fd.Name.Name
}

// dataCheck is the expression that tells a test-mode allocator from the runtime's own, if the function has one.
func dataCheck(fd *ast.FuncDecl) string {
	var fields []*ast.Field
	if fd.Recv != nil {
		fields = append(fields, fd.Recv.List...)
	}
	fields = append(fields, fd.Type.Params.List...)
	for _, f := range fields { // a bool parameter named test: the allocator is being initialized
		if id, ok := f.Type.(*ast.Ident); ok && id.Name == "bool" {
			for _, n := range f.Names {
				if n.Name == "test" {
					return "test"
				}
			}
		}
	}
	for _, f := range fields {
		star, ok := f.Type.(*ast.StarExpr)
		if !ok {
			continue
		}
		if id, ok := star.X.(*ast.Ident); ok && (id.Name == "pageAlloc" || id.Name == "scavengeIndex") {
			for _, n := range f.Names {
				if n.Name != "_" {
					return n.Name + ".test"
				}
			}
		}
	}
	return ""
}

func (g *fileGen) stmts(list []ast.Stmt) {
	for _, s := range list {
		g.stmt(s, nil)
	}
}

func (g *fileGen) stmt(s ast.Stmt, label *ast.LabeledStmt) {
	switch s := s.(type) {
	case *ast.LabeledStmt:
		g.stmt(s.Stmt, s)
	case *ast.BlockStmt:
		g.stmts(s.List)
	case *ast.ExprStmt:
		u := g.simple(s, "statement")
		if call, ok := s.X.(*ast.CallExpr); ok && !isDiagnostic(call) {
			u.deletable = true
		}
		g.finish(u, s)
	case *ast.AssignStmt:
		if s.Tok == token.DEFINE {
			g.finish(g.declaration(s, exprList(s.Lhs), s.Rhs), s)
			return
		}
		if allBlank(s.Lhs) {
			g.skip("blank assignment", len(g.points(s)))
			g.inner(s)
			return
		}
		u := g.simple(s, "statement")
		u.deletable = true
		g.opAssign(u, s)
		g.finish(u, s)
	case *ast.IncDecStmt:
		u := g.simple(s, "statement")
		u.deletable = true
		g.finish(u, s)
	case *ast.ReturnStmt, *ast.SendStmt, *ast.GoStmt, *ast.DeferStmt:
		g.finish(g.simple(s, "statement"), s)
	case *ast.DeclStmt:
		gd, ok := s.Decl.(*ast.GenDecl)
		if !ok {
			return
		}
		if gd.Tok == token.CONST {
			g.skip("constant declaration", len(g.points(s)))
			return
		}
		if gd.Tok != token.VAR {
			return
		}
		if len(gd.Specs) != 1 {
			g.skip("grouped var declaration", len(g.points(s)))
			g.inner(s)
			return
		}
		vs := gd.Specs[0].(*ast.ValueSpec)
		if len(vs.Values) == 0 {
			return
		}
		names := make([]string, len(vs.Names))
		for i, n := range vs.Names {
			names[i] = n.Name
		}
		u := g.declaration(s, strings.Join(names, ", "), vs.Values)
		g.finish(u, s)
	case *ast.IfStmt:
		g.ifStmt(s)
	case *ast.ForStmt:
		g.forStmt(s, label)
	case *ast.RangeStmt:
		g.skip("range expression", len(g.points(s.X)))
		g.inner(s.X)
		g.stmts(s.Body.List)
	case *ast.SwitchStmt:
		if s.Init != nil {
			g.skip("switch init", len(g.points(s.Init)))
		}
		if s.Tag != nil {
			g.skip("switch tag or case", len(g.points(s.Tag)))
		}
		for _, c := range s.Body.List {
			cc := c.(*ast.CaseClause)
			for _, e := range cc.List {
				g.skip("switch tag or case", len(g.points(e)))
			}
			g.stmts(cc.Body)
		}
	case *ast.TypeSwitchStmt:
		for _, c := range s.Body.List {
			g.stmts(c.(*ast.CaseClause).Body)
		}
	case *ast.SelectStmt:
		for _, c := range s.Body.List {
			g.stmts(c.(*ast.CommClause).Body)
		}
	}
}

func exprList(list []ast.Expr) string {
	names := make([]string, len(list))
	for i, e := range list {
		if id, ok := e.(*ast.Ident); ok {
			names[i] = id.Name
		} else {
			names[i] = "?"
		}
	}
	return strings.Join(names, ", ")
}

func allBlank(list []ast.Expr) bool {
	for _, e := range list {
		if id, ok := e.(*ast.Ident); !ok || id.Name != "_" {
			return false
		}
	}
	return true
}

func isDiagnostic(call *ast.CallExpr) bool {
	id, ok := ast.Unparen(call.Fun).(*ast.Ident)
	return ok && diagnostics[id.Name]
}

// inner processes the statements of the function literals inside n (they are units of their own).
func (g *fileGen) inner(n ast.Node) {
	ast.Inspect(n, func(x ast.Node) bool {
		if fl, ok := x.(*ast.FuncLit); ok {
			g.stmts(fl.Body.List)
			return false
		}
		return true
	})
}

func (g *fileGen) simple(s ast.Stmt, form string) *unit {
	u := &unit{form: form, start: g.off(s.Pos()), end: g.off(s.End()), check: g.check}
	for _, p := range g.points(s) {
		g.add(u, p)
	}
	return u
}

// finish adds the deletion mutant if any, registers the unit and goes on into its function literals.
func (g *fileGen) finish(u *unit, s ast.Stmt) {
	if u.deletable {
		g.add(u, point{op: "delete", line: g.line(s.Pos()), show: [2]int{u.start, u.end}, deleted: true})
	}
	if len(u.muts) > 0 {
		g.units = append(g.units, u)
	}
	g.inner(s)
}

func (g *fileGen) line(p token.Pos) int { return g.fset.Position(p).Line }

// declaration: `lhs := rhs` or `var lhs = rhs`; mutants re-assign the names when their right side is pure.
func (g *fileGen) declaration(s ast.Stmt, lhs string, rhs []ast.Expr) *unit {
	u := &unit{form: "declaration", start: g.off(s.Pos()), end: g.off(s.End()), check: g.check, lhs: lhs}
	u.rhsStart, u.rhsEnd = g.off(rhs[0].Pos()), g.off(rhs[len(rhs)-1].End())
	pts := g.points(s) // the names declared have no mutation points; the statement shows literals in context
	if len(pts) == 0 {
		return u
	}
	if strings.Contains(lhs, "?") {
		g.skip("declaration of a non-name", len(pts))
		return u
	}
	for _, e := range rhs {
		if !pure(e) {
			g.skip("declaration with side effects", len(pts))
			return u
		}
	}
	declared := map[string]bool{}
	for _, n := range strings.Split(lhs, ", ") {
		declared[n] = true
	}
	for _, e := range rhs {
		reads := false
		ast.Inspect(e, func(x ast.Node) bool {
			if id, ok := x.(*ast.Ident); ok && declared[id.Name] && id.Name != "_" {
				reads = true
			}
			return true
		})
		if reads {
			g.skip("declaration reads the names it declares", len(pts))
			return u
		}
	}
	for _, p := range pts {
		g.add(u, p)
	}
	return u
}

// pure: no calls but to side-effect-free functions, no receives, no function literals.
func pure(e ast.Expr) bool {
	ok := true
	ast.Inspect(e, func(x ast.Node) bool {
		switch x := x.(type) {
		case *ast.FuncLit:
			ok = false
		case *ast.UnaryExpr:
			if x.Op == token.ARROW {
				ok = false
			}
		case *ast.CallExpr:
			switch f := ast.Unparen(x.Fun).(type) {
			case *ast.Ident:
				ok = ok && pureFuncs[f.Name]
			case *ast.SelectorExpr:
				name := f.Sel.Name
				if name == "find" { // the scavenge index's find moves its cursors
					if inner, isSel := f.X.(*ast.SelectorExpr); isSel && inner.Sel.Name == "index" {
						ok = false
					}
				}
				ok = ok && (pureFuncs[name] || pureMethods[name])
			case *ast.ArrayType, *ast.StarExpr, *ast.ParenExpr:
				// a conversion
			default:
				ok = false
			}
		}
		return ok
	})
	return ok
}

// opAssign adds result±1 for `x += e` and `x -= e` when neither a literal nor arithmetic e covers it.
func (g *fileGen) opAssign(u *unit, s *ast.AssignStmt) {
	if s.Tok != token.ADD_ASSIGN && s.Tok != token.SUB_ASSIGN || len(s.Rhs) != 1 {
		return
	}
	r := ast.Unparen(s.Rhs[0])
	if _, lit := r.(*ast.BasicLit); lit {
		return
	}
	if b, ok := r.(*ast.BinaryExpr); ok && arith(b.Op) {
		return
	}
	x := s.Rhs[0]
	for _, d := range []string{"+1", "-1"} {
		g.add(u, point{
			op: "result" + d, line: g.line(s.Pos()), show: [2]int{u.start, u.end},
			edits: []edit{{g.off(x.Pos()), g.off(x.Pos()), "(("}, {g.off(x.End()), g.off(x.End()), ")" + d + ")"}},
		})
	}
}

func (g *fileGen) ifStmt(s *ast.IfStmt) {
	if g.realHeapOnly(s.Cond) {
		// `if !p.test { ... }`: only the runtime's own heap runs this, never a gated test-mode allocator.
		g.discard("runtime's own heap only", func() {
			if s.Init != nil {
				g.initUnit(s.Init, false, s)
			}
			g.stmts(s.Body.List)
		})
	} else {
		var init *unit
		if s.Init != nil {
			init = g.initUnit(s.Init, false, s)
		}
		g.condition(s.Cond)
		if init != nil {
			g.hoists = append(g.hoists, &hoist{
				start: g.off(s.Pos()), end: g.off(s.End()),
				cutStart: g.off(s.Init.Pos()), cutEnd: g.off(s.Cond.Pos()), init: init,
			})
		}
		g.stmts(s.Body.List)
	}
	elseBranch := func() {
		switch e := s.Else.(type) {
		case *ast.IfStmt:
			g.ifStmt(e)
		case *ast.BlockStmt:
			g.stmts(e.List)
		}
	}
	if g.testOnly(s.Cond) {
		// `if p.test { ... } else { ... }`: only the runtime's own heap runs the else.
		g.discard("runtime's own heap only", elseBranch)
	} else {
		elseBranch()
	}
}

func (g *fileGen) forStmt(s *ast.ForStmt, label *ast.LabeledStmt) {
	if s.Init != nil {
		if init := g.initUnit(s.Init, true, s); init != nil {
			start := g.off(s.Pos())
			if label != nil {
				start = g.off(label.Pos())
			}
			g.hoists = append(g.hoists, &hoist{
				start: start, end: g.off(s.End()),
				cutStart: g.off(s.Init.Pos()), cutEnd: g.off(s.Init.End()), init: init,
			})
		}
	}
	if s.Cond != nil {
		g.condition(s.Cond)
	}
	if s.Post != nil {
		g.skip("for post statement", len(g.points(s.Post)))
	}
	g.stmts(s.Body.List)
}

// initUnit: the init statement of an if or for, hoisted before it when it carries mutants.
func (g *fileGen) initUnit(init ast.Stmt, loop bool, whole ast.Stmt) *unit {
	pts := g.points(init)
	if len(pts) == 0 {
		g.inner(init)
		return nil
	}
	if as, ok := init.(*ast.AssignStmt); ok && as.Tok == token.DEFINE && loop && capturesOrAddresses(whole) {
		g.skip("loop variable a closure may capture", len(pts))
		g.inner(init)
		return nil
	}
	var u *unit
	if as, ok := init.(*ast.AssignStmt); ok && as.Tok == token.DEFINE {
		u = g.declaration(as, exprList(as.Lhs), as.Rhs)
	} else {
		u = g.simple(init, "statement")
	}
	g.inner(init)
	return u
}

func capturesOrAddresses(n ast.Node) bool {
	found := false
	ast.Inspect(n, func(x ast.Node) bool {
		switch x := x.(type) {
		case *ast.FuncLit:
			found = true
		case *ast.UnaryExpr:
			if x.Op == token.AND {
				found = true
			}
		}
		return !found
	})
	return found
}

// condition: the condition of an if or for, with its negation.
func (g *fileGen) condition(c ast.Expr) *unit {
	u := &unit{form: "condition", start: g.off(c.Pos()), end: g.off(c.End()), check: g.check}
	for _, p := range g.points(c) {
		g.add(u, p)
	}
	if b, ok := ast.Unparen(c).(*ast.BinaryExpr); !ok || (b.Op != token.EQL && b.Op != token.NEQ) {
		g.add(u, point{
			op: "negate", line: g.line(c.Pos()), show: [2]int{u.start, u.end},
			edits: []edit{{u.start, u.start, "!("}, {u.end, u.end, ")"}},
		})
	}
	if len(u.muts) > 0 {
		g.units = append(g.units, u)
	}
	g.inner(c)
	return u
}

// discard runs f and drops the mutants it makes (their ids are handed out again), counting them as skipped.
func (g *fileGen) discard(reason string, f func()) {
	mutants, units, hoists, next := len(g.cat.Mutants), len(g.units), len(g.hoists), *g.nextID
	f()
	g.skip(reason, len(g.cat.Mutants)-mutants)
	g.cat.Mutants, g.units, g.hoists, *g.nextID = g.cat.Mutants[:mutants], g.units[:units], g.hoists[:hoists], next
}

// realHeapOnly: a condition `!p.test` (the data check, negated): its body only runs for the runtime's own heap.
func (g *fileGen) realHeapOnly(c ast.Expr) bool {
	if g.check == "" {
		return false
	}
	not, ok := ast.Unparen(c).(*ast.UnaryExpr)
	if !ok || not.Op != token.NOT {
		return false
	}
	return g.text(not.X) == g.check
}

// testOnly: a condition that is the data check itself (`p.test`, `test`): its else only runs for the runtime's
// own heap.
func (g *fileGen) testOnly(c ast.Expr) bool {
	return g.check != "" && g.text(ast.Unparen(c)) == g.check
}

// ---- mutation points ----

type point struct {
	op      string
	line    int
	show    [2]int // the source span shown as the original text
	edits   []edit
	deleted bool
}

// points lists the mutation points of n, not looking inside function literals, types and diagnostics.
func (g *fileGen) points(n ast.Node) []point {
	var out []point
	var stack []ast.Node
	var visit func(x ast.Node)
	visit = func(x ast.Node) {
		if x == nil {
			return
		}
		switch x := x.(type) {
		case *ast.FuncLit, *ast.ArrayType, *ast.MapType, *ast.ChanType, *ast.FuncType, *ast.StructType,
			*ast.InterfaceType:
			return
		case *ast.CallExpr:
			if isDiagnostic(x) {
				g.skip("diagnostics (not mutated)", len(g.pointsIgnoringDiagnostics(x)))
				return
			}
		case *ast.BinaryExpr:
			out = append(out, g.binary(x, parentExpr(stack))...)
		case *ast.BasicLit:
			if x.Kind == token.INT && !g.literalCovered(x, stack) {
				out = append(out, g.literal(x, parentExpr(stack))...)
			}
		}
		stack = append(stack, x)
		ast.Inspect(x, func(c ast.Node) bool {
			if c == x {
				return true
			}
			if c != nil {
				visit(c)
			}
			return false
		})
		stack = stack[:len(stack)-1]
	}
	visit(n)
	return out
}

// pointsIgnoringDiagnostics counts what a diagnostic call would have had, for the skip count.
func (g *fileGen) pointsIgnoringDiagnostics(call *ast.CallExpr) []point {
	var out []point
	for _, a := range call.Args {
		if c, ok := a.(*ast.CallExpr); ok && isDiagnostic(c) {
			out = append(out, g.pointsIgnoringDiagnostics(c)...)
			continue
		}
		out = append(out, g.points(a)...)
	}
	return out
}

// parentExpr is the nearest enclosing node that is not a parenthesis.
func parentExpr(stack []ast.Node) ast.Node {
	for i := len(stack) - 1; i >= 0; i-- {
		if _, ok := stack[i].(*ast.ParenExpr); !ok {
			return stack[i]
		}
	}
	return nil
}

func arith(op token.Token) bool {
	return op == token.ADD || op == token.SUB || op == token.MUL || op == token.QUO || op == token.REM
}

func (g *fileGen) binary(b *ast.BinaryExpr, parent ast.Node) []point {
	var out []point
	opStart := g.off(b.OpPos)
	opEnd := opStart + len(b.Op.String())
	show := [2]int{g.off(b.Pos()), g.off(b.End())}
	line := g.line(b.OpPos)
	replaceOp := func(name string, to token.Token) point {
		return point{op: name, line: line, show: show, edits: []edit{{opStart, opEnd, to.String()}}}
	}
	switch {
	case relSwap[b.Op] != token.ILLEGAL:
		out = append(out, replaceOp("relational", relSwap[b.Op]))
	case b.Op == token.LAND:
		out = append(out, replaceOp("logical", token.LOR))
	case b.Op == token.LOR:
		out = append(out, replaceOp("logical", token.LAND))
	case arith(b.Op):
		if pb, ok := parent.(*ast.BinaryExpr); !ok || !arith(pb.Op) {
			for _, d := range []string{"+1", "-1"} {
				out = append(out, point{op: "result" + d, line: line, show: show, edits: []edit{
					{show[0], show[0], "(("}, {show[1], show[1], ")" + d + ")"},
				}})
			}
		}
	case b.Op == token.SHL || b.Op == token.SHR:
		other := token.SHR
		if b.Op == token.SHR {
			other = token.SHL
		}
		out = append(out, replaceOp("shift-direction", other))
		y := ast.Unparen(b.Y)
		_, lit := y.(*ast.BasicLit)
		yb, isBin := y.(*ast.BinaryExpr)
		if !lit && !(isBin && arith(yb.Op)) {
			ys, ye := g.off(b.Y.Pos()), g.off(b.Y.End())
			for _, d := range []string{"+1", "-1"} {
				out = append(out, point{op: "shift" + d, line: line, show: show, edits: []edit{
					{ys, ys, "(("}, {ye, ye, ")" + d + ")"},
				}})
			}
		}
	}
	return out
}

// literalCovered: the literal sits in a chain of + and - whose outermost result gets its own ±1.
func (g *fileGen) literalCovered(lit *ast.BasicLit, stack []ast.Node) bool {
	var top *ast.BinaryExpr
	i := len(stack) - 1
	for ; i >= 0; i-- {
		switch p := stack[i].(type) {
		case *ast.ParenExpr:
			continue
		case *ast.BinaryExpr:
			if p.Op == token.ADD || p.Op == token.SUB {
				top = p
				continue
			}
		}
		break
	}
	if top == nil {
		return false
	}
	if i >= 0 {
		if pb, ok := stack[i].(*ast.BinaryExpr); ok && arith(pb.Op) {
			return false // the chain is inside a * / %: its own result gets no ±1
		}
	}
	return true
}

// literal: ±1 on an integer literal, shown within the expression around it.
func (g *fileGen) literal(lit *ast.BasicLit, parent ast.Node) []point {
	raw := strings.ReplaceAll(lit.Value, "_", "")
	v, err := strconv.ParseUint(raw, 0, 64)
	if err != nil {
		return nil
	}
	hex := strings.HasPrefix(raw, "0x") || strings.HasPrefix(raw, "0X")
	format := func(x uint64) string {
		if hex {
			return fmt.Sprintf("0x%x", x)
		}
		return strconv.FormatUint(x, 10)
	}
	s, e := g.off(lit.Pos()), g.off(lit.End())
	line := g.line(lit.Pos())
	show := [2]int{s, e}
	if parent != nil {
		show = [2]int{g.off(parent.Pos()), g.off(parent.End())}
	}
	var out []point
	if v != ^uint64(0) {
		out = append(out, point{op: "literal+1", line: line, show: show, edits: []edit{{s, e, format(v + 1)}}})
	}
	minus := "-1"
	if v > 0 {
		minus = format(v - 1)
	}
	out = append(out, point{op: "literal-1", line: line, show: show, edits: []edit{{s, e, minus}}})
	return out
}

// add makes a mutant of a point in a unit (ids are handed out here, in a fixed order).
func (g *fileGen) add(u *unit, p point) {
	id := *g.nextID
	*g.nextID++
	orig := string(g.src[p.show[0]:p.show[1]])
	mutated := ""
	if !p.deleted {
		mutated = applyEdits(g.src, p.show[0], p.show[1], p.edits)
	}
	m := &Mutant{
		ID: id, File: g.name, Func: g.fn, Line: p.line, Op: p.op, Orig: oneLine(orig), Mutated: oneLine(mutated),
		Form: u.form, Check: u.check, Out: []Span{}, edits: p.edits,
	}
	g.cat.Mutants = append(g.cat.Mutants, m)
	if !g.excluded[id] {
		u.muts = append(u.muts, m)
	}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// applyEdits renders src[start:end] with edits (sorted, non-overlapping, inside the span).
func applyEdits(src []byte, start, end int, edits []edit) string {
	sorted := append([]edit(nil), edits...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].start < sorted[j].start })
	var b strings.Builder
	pos := start
	for _, e := range sorted {
		b.Write(src[pos:e.start])
		b.WriteString(e.text)
		pos = e.end
	}
	b.Write(src[pos:end])
	return b.String()
}

// ---- rendering the instrumented file ----

const markStart, markEnd = "\x00S", "\x00E"

func mark(id int, text string) string {
	return fmt.Sprintf("%s%d\x00%s%s%d\x00", markStart, id, text, markEnd, id)
}

func (g *fileGen) gate(u *unit, m *Mutant) string {
	if u.check != "" {
		return fmt.Sprintf("mutOn(%d) && %s", m.ID, u.check)
	}
	return fmt.Sprintf("mutOn(%d)", m.ID)
}

func (g *fileGen) write(path string) {
	for _, u := range g.units {
		u := u
		if len(u.muts) > 0 {
			g.regions = append(g.regions, region{u.start, u.end, func() string { return g.renderUnit(u) }})
		}
	}
	for _, h := range g.hoists {
		h := h
		if len(h.init.muts) == 0 {
			continue
		}
		g.regions = append(g.regions, region{h.start, h.end, func() string {
			return "{\n" + g.renderUnit(h.init) + "\n" + g.renderRange(h.start, h.cutStart, nil) +
				g.renderRange(h.cutEnd, h.end, nil) + "\n}"
		}})
	}
	sort.SliceStable(g.regions, func(i, j int) bool {
		a, b := g.regions[i], g.regions[j]
		if a.start != b.start {
			return a.start < b.start
		}
		return a.end > b.end
	})
	text := g.renderRange(0, len(g.src), nil)
	out, spans := unmark(text)
	for _, m := range g.cat.Mutants {
		if m.File == g.name {
			m.Out = append(m.Out, spans[m.ID]...)
		}
	}
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		fail("%v", err)
	}
}

// renderRange renders src[start:end]: the regions directly inside it rendered, plus extra edits.
func (g *fileGen) renderRange(start, end int, extra []edit) string {
	type item struct {
		start, end int
		text       func() string
	}
	var items []item
	covered := -1
	for _, r := range g.regions {
		if r.start < start || r.end > end || r.start < covered {
			continue
		}
		if r.start == start && r.end == end {
			continue // the region being rendered itself
		}
		r := r
		items = append(items, item{r.start, r.end, r.render})
		covered = r.end
	}
	for _, e := range extra {
		e := e
		for _, it := range items {
			if e.start < it.end && it.start < e.end || (e.start == e.end && it.start < e.start && e.start < it.end) {
				fail("%s: a mutation edit at offset %d overlaps gated code", g.name, e.start)
			}
		}
		items = append(items, item{e.start, e.end, func() string { return e.text }})
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].start < items[j].start })
	var b strings.Builder
	pos := start
	for _, it := range items {
		b.Write(g.src[pos:it.start])
		b.WriteString(it.text())
		pos = it.end
	}
	b.Write(g.src[pos:end])
	return b.String()
}

func (g *fileGen) renderUnit(u *unit) string {
	orig := g.renderRange(u.start, u.end, nil)
	var b strings.Builder
	switch u.form {
	case "statement":
		for i, m := range u.muts {
			if i > 0 {
				b.WriteString(" else ")
			}
			body := ""
			if !(m.Op == "delete") {
				body = g.renderRange(u.start, u.end, m.edits)
			}
			fmt.Fprintf(&b, "if %s {\n%s\n}", g.gate(u, m), mark(m.ID, body))
		}
		fmt.Fprintf(&b, " else {\n%s\n}", orig)
	case "declaration":
		b.WriteString(orig)
		b.WriteString("\n")
		for i, m := range u.muts {
			if i > 0 {
				b.WriteString(" else ")
			}
			assign := u.lhs + " = " + g.renderRange(u.rhsStart, u.rhsEnd, m.edits)
			fmt.Fprintf(&b, "if %s {\n%s\n}", g.gate(u, m), mark(m.ID, assign))
		}
	case "condition":
		lo, hi := u.muts[0].ID, u.muts[len(u.muts)-1].ID
		for _, m := range u.muts {
			fmt.Fprintf(&b, "(%s && %s) || ", g.gate(u, m), mark(m.ID, "("+g.renderRange(u.start, u.end, m.edits)+")"))
		}
		in := fmt.Sprintf("mutIn(%d, %d)", lo, hi)
		if u.check != "" {
			in = fmt.Sprintf("(%s && %s)", in, u.check)
		}
		fmt.Fprintf(&b, "(!%s && (%s))", in, orig)
		return "(" + b.String() + ")"
	}
	return b.String()
}

// unmark strips the markers and returns where each mutant's code landed.
func unmark(text string) (string, map[int][]Span) {
	spans := map[int][]Span{}
	type open struct{ line, col int }
	opened := map[int][]open{}
	var b strings.Builder
	line, col := 1, 1
	for i := 0; i < len(text); {
		if text[i] == 0 {
			kind := text[i+1]
			j := i + 2
			for text[j] != 0 {
				j++
			}
			id, _ := strconv.Atoi(text[i+2 : j])
			if kind == 'S' {
				opened[id] = append(opened[id], open{line, col})
			} else {
				o := opened[id][len(opened[id])-1]
				opened[id] = opened[id][:len(opened[id])-1]
				spans[id] = append(spans[id], Span{o.line, o.col, line, col})
			}
			i = j + 1
			continue
		}
		b.WriteByte(text[i])
		if text[i] == '\n' {
			line++
			col = 1
		} else {
			col++
		}
		i++
	}
	return b.String(), spans
}

// ---- gating Go's own tests ----

func gateTests(path, outPath, name string, cat *catalog) {
	src, err := os.ReadFile(path)
	if err != nil {
		fail("%v", err)
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, src, parser.ParseComments)
	if err != nil {
		fail("%v", err)
	}
	qual := ""
	found := false
	for _, imp := range f.Imports {
		if imp.Path.Value == `"runtime"` {
			found = true
			switch {
			case imp.Name == nil:
				qual = "runtime."
			case imp.Name.Name == ".":
				qual = ""
			default:
				qual = imp.Name.Name + "."
			}
		}
	}
	if !found {
		fail("%s does not import runtime", name)
	}
	stmt := " defer " + qual + "MutantTestUngate(" + qual + "MutantTestGate());"
	var inserts []int
	var names []string
	for _, decl := range f.Decls {
		fd, ok := decl.(*ast.FuncDecl)
		if !ok || fd.Body == nil || fd.Recv != nil || !strings.HasPrefix(fd.Name.Name, "Test") || !takesT(fd.Type) {
			continue
		}
		inserts = append(inserts, fset.Position(fd.Body.Lbrace).Offset+1)
		names = append(names, fd.Name.Name)
		test := fd.Name.Name
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) != 2 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || sel.Sel.Name != "Run" {
				return true
			}
			if lit, ok := call.Args[1].(*ast.FuncLit); ok && takesT(lit.Type) {
				inserts = append(inserts, fset.Position(lit.Body.Lbrace).Offset+1)
				names = append(names, fmt.Sprintf("%s/subtest@%d", test, fset.Position(call.Pos()).Line))
			}
			return true
		})
	}
	if len(names) == 0 {
		fail("%s: no Test function found", name)
	}
	sort.Ints(inserts)
	var b strings.Builder
	pos := 0
	for _, at := range inserts {
		b.Write(src[pos:at])
		b.WriteString(stmt)
		pos = at
	}
	b.Write(src[pos:])
	if err := os.WriteFile(outPath, []byte(b.String()), 0o644); err != nil {
		fail("%v", err)
	}
	cat.Tests[name] = names
}

// takesT: the function's one parameter is a *testing.T.
func takesT(ft *ast.FuncType) bool {
	if ft.Params == nil || len(ft.Params.List) != 1 || len(ft.Params.List[0].Names) > 1 {
		return false
	}
	star, ok := ft.Params.List[0].Type.(*ast.StarExpr)
	if !ok {
		return false
	}
	sel, ok := star.X.(*ast.SelectorExpr)
	return ok && sel.Sel.Name == "T"
}
