package stackmap

import (
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// ---------------------------------------------------------------------------
// Layout and constants, re-derived from the running toolchain's source.

// goroot returns the source tree of the running Go version, or skips.
func goroot(t *testing.T) string {
	t.Helper()
	root := runtime.GOROOT()
	v, err := os.ReadFile(filepath.Join(root, "VERSION"))
	if err != nil || !strings.HasPrefix(string(v), runtime.Version()+"\n") {
		t.Skipf("no source for %s at GOROOT %q", runtime.Version(), root)
	}
	return filepath.Join(root, "src")
}

// TestABIConstants type-checks internal/abi/symtab.go (it has no imports)
// and compares its constants with ours.
func TestABIConstants(t *testing.T) {
	src := filepath.Join(goroot(t), "internal/abi/symtab.go")
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, src, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	pkg, err := (&types.Config{Importer: importer.Default()}).Check("internal/abi", fset, []*ast.File{file}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ours := map[string]int64{
		"PCDATA_UnsafePoint": _PCDATA_UnsafePoint, "PCDATA_StackMapIndex": _PCDATA_StackMapIndex,
		"PCDATA_InlTreeIndex": _PCDATA_InlTreeIndex, "PCDATA_ArgLiveIndex": _PCDATA_ArgLiveIndex,
		"PCDATA_PanicBounds":          _PCDATA_PanicBounds,
		"FUNCDATA_ArgsPointerMaps":    _FUNCDATA_ArgsPointerMaps,
		"FUNCDATA_LocalsPointerMaps":  _FUNCDATA_LocalsPointerMaps,
		"FUNCDATA_StackObjects":       _FUNCDATA_StackObjects,
		"FUNCDATA_InlTree":            _FUNCDATA_InlTree,
		"FUNCDATA_OpenCodedDeferInfo": _FUNCDATA_OpenCodedDeferInfo,
		"FUNCDATA_ArgInfo":            _FUNCDATA_ArgInfo,
		"FUNCDATA_ArgLiveInfo":        _FUNCDATA_ArgLiveInfo,
		"FUNCDATA_WrapInfo":           _FUNCDATA_WrapInfo,
		"UnsafePointSafe":             _UnsafePointSafe, "UnsafePointUnsafe": _UnsafePointUnsafe,
		"UnsafePointRestart1": _UnsafePointRestart1, "UnsafePointRestart2": _UnsafePointRestart2,
		"UnsafePointRestartAtEntry": _UnsafePointRestartAtEntry,
		"ArgsSizeUnknown":           _ArgsSizeUnknown,
		"FuncFlagTopFrame":          flagTopFrame, "FuncFlagSPWrite": flagSPWrite, "FuncFlagAsm": flagAsm,
		"FuncIDNormal": funcIDNormal, "FuncID_abort": funcID_abort, "FuncID_asmcgocall": funcID_asmcgocall,
		"FuncID_asyncPreempt": funcID_asyncPreempt, "FuncID_cgocallback": funcID_cgocallback,
		"FuncID_corostart": funcID_corostart, "FuncID_debugCallV2": funcID_debugCallV2,
		"FuncID_gcBgMarkWorker": funcID_gcBgMarkWorker, "FuncID_goexit": funcID_goexit,
		"FuncID_gogo": funcID_gogo, "FuncID_gopanic": funcID_gopanic,
		"FuncID_handleAsyncEvent": funcID_handleAsyncEvent, "FuncID_mcall": funcID_mcall,
		"FuncID_morestack": funcID_morestack, "FuncID_mstart": funcID_mstart,
		"FuncID_panicwrap": funcID_panicwrap, "FuncID_rt0_go": funcID_rt0_go,
		"FuncID_runtime_main": funcID_runtime_main, "FuncID_runFinalizers": funcID_runFinalizers,
		"FuncID_runCleanups": funcID_runCleanups, "FuncID_sigpanic": funcID_sigpanic,
		"FuncID_systemstack": funcID_systemstack, "FuncID_systemstack_switch": funcID_systemstack_switch,
		"FuncIDWrapper": funcID_wrapper,
	}
	for name, want := range ours {
		obj, ok := pkg.Scope().Lookup(name).(*types.Const)
		if !ok {
			t.Errorf("internal/abi has no constant %s", name)
			continue
		}
		if got := obj.Val().String(); got != fmt.Sprint(want) {
			t.Errorf("abi.%s = %s, stackmap has %d", name, got, want)
		}
	}
	// A new FuncID would shift nothing we use, but deserves a look.
	if obj := pkg.Scope().Lookup("FuncIDWrapper").(*types.Const); obj.Val().String() != fmt.Sprint(funcID_wrapper) {
		t.Errorf("FuncID list changed")
	}
}

// structOffsets parses the named struct type in a runtime source file and
// returns each field's byte offset, for the field types moduledata and
// _func use up to the fields we read (64-bit sizes).
func structOffsets(t *testing.T, file, typeName string) map[string]uintptr {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var st *ast.StructType
	ast.Inspect(f, func(n ast.Node) bool {
		if ts, ok := n.(*ast.TypeSpec); ok && ts.Name.Name == typeName {
			st, _ = ts.Type.(*ast.StructType)
		}
		return st == nil
	})
	if st == nil {
		t.Fatalf("%s: no struct %s", file, typeName)
	}
	offs := map[string]uintptr{}
	off := uintptr(0)
	for _, fld := range st.Fields.List {
		size, align := typeSize(fld.Type)
		if size < 0 {
			break // a type we cannot size: stop, later offsets unknown
		}
		names := fld.Names
		if len(names) == 0 {
			names = []*ast.Ident{{Name: "<embedded>"}}
		}
		for _, n := range names {
			off = (off + align - 1) &^ (align - 1)
			offs[n.Name] = off
			off += uintptr(size)
		}
	}
	return offs
}

func typeSize(e ast.Expr) (int, uintptr) {
	switch e := e.(type) {
	case *ast.StarExpr, *ast.MapType, *ast.ChanType, *ast.FuncType:
		return 8, 8
	case *ast.ArrayType:
		if e.Len == nil {
			return 24, 8 // slice
		}
		if lit, ok := e.Len.(*ast.BasicLit); ok {
			var n int
			fmt.Sscan(lit.Value, &n)
			es, ea := typeSize(e.Elt)
			return n * es, ea
		}
	case *ast.SelectorExpr:
		switch e.X.(*ast.Ident).Name + "." + e.Sel.Name {
		case "sys.NotInHeap":
			return 0, 1
		case "abi.FuncID", "abi.FuncFlag":
			return 1, 1
		}
	case *ast.Ident:
		switch e.Name {
		case "uintptr", "int", "uint", "int64", "uint64":
			return 8, 8
		case "int32", "uint32":
			return 4, 4
		case "uint8", "int8", "byte", "bool":
			return 1, 1
		case "string":
			return 16, 8
		}
	}
	return -1, 1
}

// TestModuledataOffsets recomputes the moduledata offsets from the running
// toolchain's runtime/symtab.go and compares them with the layout file.
func TestModuledataOffsets(t *testing.T) {
	if !layoutSupported {
		t.Skip("unsupported Go version")
	}
	offs := structOffsets(t, filepath.Join(goroot(t), "runtime/symtab.go"), "moduledata")
	want := map[string]uintptr{
		"pcHeader": mdPCHeader, "funcnametab": mdFuncnametab, "cutab": mdCutab, "filetab": mdFiletab,
		"pctab": mdPctab, "pclntable": mdPclntable, "ftab": mdFtab, "findfunctab": mdFindfunctab,
		"minpc": mdMinpc, "maxpc": mdMaxpc, "text": mdText, "etext": mdEtext,
		"noptrdata": mdNoptrdata, "enoptrdata": mdEnoptrdata, "data": mdData, "edata": mdEdata,
		"bss": mdBss, "ebss": mdEbss, "noptrbss": mdNoptrbss, "enoptrbss": mdEnoptrbss,
		"types": mdTypes, "etypes": mdEtypes, "rodata": mdRodata, "gofunc": mdGofunc,
		"epclntab": mdEpclntab, "textsectmap": mdTextsectmap,
	}
	for name, w := range want {
		got, ok := offs[name]
		if !ok {
			t.Errorf("moduledata.%s: not found or after an unsized field", name)
		} else if got != w {
			t.Errorf("moduledata.%s at %d in source, layout file says %d", name, got, w)
		}
	}
}

// TestFuncRecordLayout compares funcRecord with runtime._func.
func TestFuncRecordLayout(t *testing.T) {
	offs := structOffsets(t, filepath.Join(goroot(t), "runtime/runtime2.go"), "_func")
	var r funcRecord
	ours := map[string]uintptr{
		"entryOff": unsafe.Offsetof(r.entryOff), "nameOff": unsafe.Offsetof(r.nameOff),
		"args": unsafe.Offsetof(r.args), "deferreturn": unsafe.Offsetof(r.deferreturn),
		"pcsp": unsafe.Offsetof(r.pcsp), "pcfile": unsafe.Offsetof(r.pcfile),
		"pcln": unsafe.Offsetof(r.pcln), "npcdata": unsafe.Offsetof(r.npcdata),
		"cuOffset": unsafe.Offsetof(r.cuOffset), "startLine": unsafe.Offsetof(r.startLine),
		"funcID": unsafe.Offsetof(r.funcID), "flag": unsafe.Offsetof(r.flag),
		"nfuncdata": unsafe.Offsetof(r.nfuncdata),
	}
	if len(offs) != len(ours)+2 { // + NotInHeap and the pad "_"
		t.Errorf("_func has %d fields in source, funcRecord mirrors %d: %v", len(offs), len(ours), offs)
	}
	for name, w := range ours {
		if got, ok := offs[name]; !ok || got != w {
			t.Errorf("_func.%s at %d (found %v), funcRecord has %d", name, got, ok, w)
		}
	}
	if unsafe.Sizeof(r) != funcRecordSize {
		t.Errorf("funcRecord is %d bytes, want %d", unsafe.Sizeof(r), funcRecordSize)
	}
}

func TestSelfCheck(t *testing.T) {
	if !Supported {
		if SelfCheck() == nil {
			t.Fatal("SelfCheck succeeded on an unsupported version")
		}
		t.Skip("unsupported")
	}
	if err := SelfCheck(); err != nil {
		t.Fatal(err)
	}
	const n = 50
	start := time.Now()
	for i := 0; i < n; i++ {
		if err := SelfCheck(); err != nil {
			t.Fatal(err)
		}
	}
	d := time.Since(start) / n
	t.Logf("SelfCheck takes %v", d)
	if d > 5*time.Millisecond { // the target is < 1ms; leave room for -race
		t.Errorf("SelfCheck takes %v", d)
	}
}

// ---------------------------------------------------------------------------
// Every function of the binary against the runtime's own decoders.

// allFuncs lists the functions of the module containing this test, from
// moduledata.ftab ([]struct{entryoff, funcoff uint32}, with a final
// sentinel entry), with the end pc of each (the next function's entry).
func allFuncs(t *testing.T) (funcs []Func, ends []uintptr) {
	here, ok := FindFunc(funcPC(t))
	if !ok {
		t.Fatal("FindFunc failed on a test pc")
	}
	type functab struct{ entryoff, funcoff uint32 }
	ftab := *(*[]functab)(unsafe.Add(here.datap, mdFtab))
	pcln := here.mdBytes(mdPclntable)
	for i := 0; i+1 < len(ftab); i++ {
		if ftab[i].entryoff == ftab[i+1].entryoff {
			continue // an alias (e.g. C symbols of the race runtime): FindFunc returns the next
		}
		f := Func{unsafe.Pointer(&pcln[ftab[i].funcoff]), here.datap}
		funcs = append(funcs, f)
		ends = append(ends, here.mdWord(mdText)+uintptr(ftab[i+1].entryoff))
	}
	return funcs, ends
}

// funcPC returns a pc inside its caller.
//
//go:noinline
func funcPC(t *testing.T) uintptr {
	var pcs [1]uintptr
	if runtime.Callers(2, pcs[:]) != 1 {
		t.Fatal("runtime.Callers")
	}
	return pcs[0]
}

// fileName decodes the pcfile table with our decoder and resolves the file
// index through cutab and filetab (runtime.funcfile).
func fileName(f Func, pc uintptr) (string, bool) {
	fileno := f.pcValue(f.rec().pcfile, pc)
	if fileno < 0 {
		return "", false
	}
	cutab := *(*[]uint32)(unsafe.Add(f.datap, mdCutab))
	i := uint64(f.rec().cuOffset) + uint64(fileno)
	if i >= uint64(len(cutab)) || cutab[i] == ^uint32(0) {
		return "?", true
	}
	s := f.mdBytes(mdFiletab)[cutab[i]:]
	for n, c := range s {
		if c == 0 {
			return string(s[:n]), true
		}
	}
	return "", false
}

func TestAllFunctions(t *testing.T) {
	if !Supported {
		t.Skip("unsupported")
	}
	funcs, ends := allFuncs(t)
	maxPCs := uintptr(64)
	if testing.Short() {
		maxPCs = 8
	}
	var nfuncs, nnames, npcs int
	for i, f := range funcs {
		entry, end := f.Entry(), ends[i]
		rf := runtime.FuncForPC(entry)
		if rf == nil || rf.Entry() != entry {
			t.Fatalf("%s: entry %#x, runtime FuncForPC disagrees", f.name(), entry)
		}
		if g, ok := FindFunc(entry); !ok || g != f {
			t.Fatalf("%s: FindFunc(entry) = %s", f.name(), g.name())
		}
		if g, ok := FindFunc(end - 1); !ok || g != f {
			t.Fatalf("%s: FindFunc(end-1) = %s", f.name(), g.name())
		}
		name := f.name()
		if !strings.Contains(name, "[") { // the runtime prints generic shapes as [...]
			if rf.Name() != name {
				t.Fatalf("name at %#x: %q, runtime says %q", entry, name, rf.Name())
			}
			nnames++
		}
		if f.rec().pcsp != 0 && f.spDelta(entry) != 0 {
			t.Errorf("%s: SPDelta(entry) = %d", name, f.spDelta(entry))
		}
		nfuncs++
		step := max(1, (end-entry)/maxPCs)
		for pc := entry; pc < end; pc += step {
			checkPC(t, f, pc)
			npcs++
		}
		checkPC(t, f, end-1)
		if t.Failed() {
			t.FailNow()
		}
	}
	t.Logf("checked %d functions (%d names), %d pcs", nfuncs, nnames, npcs)
	if nfuncs < 1000 || nnames < 1000 {
		t.Errorf("too few functions")
	}
}

// checkPC compares our decoding of the line, file and sp tables at pc with
// the runtime's (runtime.FuncForPC(pc).FileLine decodes pcfile and pcln
// with the runtime's own pcvalue).
func checkPC(t *testing.T, f Func, pc uintptr) {
	rfile, rline := runtime.FuncForPC(pc).FileLine(pc)
	line := f.pcValue(f.rec().pcln, pc)
	file, ok := fileName(f, pc)
	if !ok || line < 0 {
		if rline != 0 {
			t.Errorf("%s+%#x: no line from our decoder, runtime says %s:%d", f.name(), pc-f.Entry(), rfile, rline)
		}
		return
	}
	if int(line) != rline || file != rfile {
		t.Errorf("%s+%#x: %s:%d, runtime says %s:%d", f.name(), pc-f.Entry(), file, line, rfile, rline)
	}
	if ffile, fline := f.fileLine(pc); ffile != rfile || fline != rline {
		t.Errorf("%s+%#x: FileLine %s:%d, runtime says %s:%d", f.name(), pc-f.Entry(), ffile, fline, rfile, rline)
	}
	// The sp table must cover every pc of a function that has one. (The
	// value itself may be negative: syscall.rawVforkSyscall pops its
	// return address and has SPDelta -8 afterwards.)
	if f.rec().pcsp != 0 && f.spDelta(pc) == -1 {
		t.Errorf("%s+%#x: SPDelta = %d", f.name(), pc-f.Entry(), f.spDelta(pc))
	}
}

func TestNoFunc(t *testing.T) {
	if f, ok := FindFunc(0); ok || f.valid() {
		t.Errorf("FindFunc(0) found %s", f.name())
	}
	var f Func
	if f.valid() {
		t.Error("zero Func is valid")
	}
	if file, line := f.fileLine(0); file != "?" || line != 0 {
		t.Errorf("zero Func FileLine = %s:%d", file, line)
	}
}

func TestPCValueDecoder(t *testing.T) {
	for _, c := range []struct {
		in []byte
		v  uint32
		n  int
	}{
		{[]byte{0}, 0, 1}, {[]byte{0x7f}, 0x7f, 1}, {[]byte{0x80, 1}, 0x80, 2},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0x0f}, 0xffffffff, 5}, {[]byte{0x80}, 0, 0}, {nil, 0, 0},
	} {
		if v, n := readUvarint(c.in); v != c.v || n != c.n {
			t.Errorf("readUvarint(%x) = %d, %d; want %d, %d", c.in, v, n, c.v, c.n)
		}
	}
	for u, want := range []int32{0, -1, 1, -2, 2} {
		if got := unzigzag(uint32(u)); got != want {
			t.Errorf("unzigzag(%d) = %d, want %d", u, got, want)
		}
	}
}

// ---------------------------------------------------------------------------
// Live call chains: the frame-pointer chain must agree with SPDelta.

// visitFrame is called for each physical frame found by walkStack, outermost
// last. sp and fp (the caller's SP) point into the live stack: use them only
// during the call.
type visitFrame func(i int, f Func, pc uintptr, sp, fp unsafe.Pointer)

// walkStack walks the current goroutine's stack from its caller's frame to
// the top frame (runtime.goexit) with SPDelta alone, checks at every frame
// that the frame pointer is where SPDelta says, checks each caller's stack
// map index, and compares the chain with runtime.Callers.
//
//go:noinline
//go:nocheckptr
func walkStack(t *testing.T, visit visitFrame) []Func {
	if !haveCallerFrame {
		t.Skip("no frame-pointer helper (purego, or neither amd64 nor arm64)")
	}
	var callers [128]uintptr
	ncallers := runtime.Callers(1, callers[:])
	pc, sp, bp := callerFrame()
	var funcs []Func
	for i := 0; ; i++ {
		f, ok := FindFunc(pc)
		if !ok {
			t.Fatalf("frame %d: no function at %#x", i, pc)
		}
		funcs = append(funcs, f)
		if f.funcID() == funcID_goexit || f.flag()&flagTopFrame != 0 {
			break
		}
		if f.flag()&flagSPWrite != 0 {
			t.Fatalf("frame %d: SPWRITE function %s", i, f.name())
		}
		d := f.spDelta(pc)
		if d < 0 {
			t.Fatalf("frame %d: %s: SPDelta(%#x) = %d", i, f.name(), pc, d)
		}
		fpOff, retOff, savedOff, saved := frameSlots(0, d) // offsets from sp
		fp := unsafe.Add(sp, int(fpOff))
		if saved {
			if want := unsafe.Add(sp, int(savedOff)); bp != want {
				t.Fatalf("frame %d: %s: SPDelta says saved BP at %p, BP is %p", i, f.name(), want, bp)
			}
			bp = *(*unsafe.Pointer)(bp)
		}
		if i > 0 {
			checkStackMapIndex(t, f, pc)
		}
		if visit != nil {
			visit(i, f, pc, sp, fp)
		}
		pc = *(*uintptr)(unsafe.Add(sp, int(retOff)))
		sp = fp
		if i > 1000 {
			t.Fatal("runaway stack walk")
		}
	}
	compareWithCallers(t, funcs, callers[:ncallers])
	return funcs
}

// checkStackMapIndex checks the stack map index at a return pc like the
// runtime's getStackMap: the value at pc-1 (-1 meaning 0) must index the
// locals and args maps when there are any.
func checkStackMapIndex(t *testing.T, f Func, pc uintptr) {
	idx := f.pcdata(_PCDATA_StackMapIndex, pc-1)
	if idx == -1 {
		idx = 0
	}
	for _, m := range []stackMaps{f.localsMaps(), f.argsMaps()} {
		if m.n() > 0 && (idx < 0 || idx >= m.n()) {
			t.Errorf("%s: stack map index %d at %#x not in [0, %d)", f.name(), idx, pc-1, m.n())
		}
		if m.n() > 0 {
			m.bitmap(idx) // must not panic
		}
	}
}

// compareWithCallers checks that every function of runtime.Callers'
// (inline-expanded, wrapper-free) list is a frame of our walk, and that
// every non-wrapper frame of our walk is in runtime.Callers' list.
func compareWithCallers(t *testing.T, walked []Func, callers []uintptr) {
	t.Helper()
	seen := map[Func]bool{}
	for _, f := range walked {
		seen[f] = true
	}
	inCallers := map[Func]bool{}
	for _, pc := range callers {
		f, _ := FindFunc(pc - 1)
		inCallers[f] = true
		if !seen[f] {
			t.Errorf("runtime.Callers has %s, our walk does not", f.name())
		}
	}
	if len(callers) == 128 {
		return // truncated
	}
	for _, f := range walked[1:] {
		if !inCallers[f] && f.funcID() != funcID_wrapper {
			t.Errorf("our walk has %s (funcID %d), runtime.Callers does not", f.name(), f.funcID())
		}
	}
}

func hasFunc(funcs []Func, suffix string) bool {
	for _, f := range funcs {
		if strings.HasSuffix(f.name(), suffix) {
			return true
		}
	}
	return false
}

// Shapes of call chains.

//go:noinline
func chainPlain(t *testing.T) []Func { return chainPlain2(t) }

//go:noinline
func chainPlain2(t *testing.T) []Func { return walkStack(t, nil) }

//go:noinline
func chainBigFrame(t *testing.T) []Func {
	var buf [16 << 10]byte
	for i := range buf {
		buf[i] = byte(i)
	}
	fs := walkStack(t, nil)
	if buf[100] != 100 {
		t.Fatal("buf")
	}
	return fs
}

type shapeT struct{ n int }

//go:noinline
func (s shapeT) value(t *testing.T) []Func { return walkStack(t, nil)[s.n:] }

//go:noinline
func (s *shapeT) pointer(t *testing.T) []Func { return s.value(t) }

type ifaceWalker interface{ value(t *testing.T) []Func }

// callWalker calls value through an interface: for a *shapeT this goes
// through the compiler-generated wrapper (*shapeT).value.
//
//go:noinline
func callWalker(w ifaceWalker, t *testing.T) []Func { return w.value(t) }

//go:noinline
func callFn(fn func() []Func) []Func { return fn() }

//go:noinline
func chainClosure(t *testing.T) []Func {
	y := 0
	fs := callFn(func() []Func { y++; return walkStack(t, nil) })
	if y != 1 {
		t.Fatal("closure did not run")
	}
	return fs
}

//go:noinline
func chainGeneric[T any](t *testing.T, v T) []Func {
	fs := walkStack(t, nil)
	_ = fmt.Sprint(v)
	return fs
}

//go:noinline
func chainDefer(t *testing.T) (fs []Func) {
	for i := 0; i < 1; i++ { // defer in a loop: not open-coded, run by deferreturn
		defer func() { fs = walkStack(t, nil) }()
	}
	return nil
}

//go:noinline
func chainPanic(t *testing.T) (fs []Func) {
	defer func() {
		fs = walkStack(t, nil) // runs inside gopanic
		recover()
	}()
	panic("chainPanic")
}

func TestFramePointerChains(t *testing.T) {
	if !Supported || !haveCallerFrame {
		t.Skip("unsupported, or no frame-pointer helper (purego, or neither amd64 nor arm64)")
	}
	s := &shapeT{}
	cases := []struct {
		name string
		run  func(t *testing.T) []Func
		want []string // function name suffixes that must be in the walk
	}{
		{"plain", func(t *testing.T) []Func { return chainPlain(t) }, []string{".chainPlain", ".chainPlain2"}},
		{"bigframe", func(t *testing.T) []Func { return chainBigFrame(t) }, []string{".chainBigFrame"}},
		{"closure", func(t *testing.T) []Func { return chainClosure(t) }, []string{".chainClosure.func1", ".callFn"}},
		{"value method", func(t *testing.T) []Func { return shapeT{}.value(t) }, []string{".shapeT.value"}},
		{"pointer method", func(t *testing.T) []Func { return s.pointer(t) }, []string{".(*shapeT).pointer"}},
		{"interface via pointer (wrapper)", func(t *testing.T) []Func { return callWalker(s, t) }, []string{".(*shapeT).value", ".shapeT.value"}},
		{"generic", func(t *testing.T) []Func { return chainGeneric(t, 42) }, []string{".chainGeneric[...]"}},
		{"defer", func(t *testing.T) []Func { return chainDefer(t) }, []string{"runtime.deferreturn"}},
		{"panic", func(t *testing.T) []Func { return chainPanic(t) }, []string{"runtime.gopanic", ".chainPanic"}},
		{"goroutine", func(t *testing.T) []Func {
			ch := make(chan []Func)
			go func() {
				var fs []Func
				defer func() { ch <- fs }() // also after a t.Fatal in the goroutine
				fs = chainPlain(t)
			}()
			return <-ch
		}, []string{".chainPlain"}},
		{"go wrapper", func(t *testing.T) []Func {
			ch := make(chan []Func)
			go func(c chan []Func, t *testing.T) {
				var fs []Func
				defer func() { c <- fs }()
				fs = chainPlain(t)
			}(ch, t) // arguments: started through a gowrap wrapper
			return <-ch
		}, []string{".chainPlain", ".gowrap1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fs := c.run(t)
			if len(fs) == 0 {
				t.FailNow()
			}
			for _, w := range c.want {
				if !hasFunc(fs, strings.ReplaceAll(w, "[...]", "[go.shape.int]")) && !hasFunc(fs, w) {
					var names []string
					for _, f := range fs {
						names = append(names, f.name())
					}
					t.Errorf("walk lacks %s: %v", w, names)
				}
			}
			for _, f := range fs {
				if strings.HasSuffix(f.name(), ".(*shapeT).value") && f.funcID() != funcID_wrapper {
					t.Errorf("%s has funcID %d, want FuncID_wrapper", f.name(), f.funcID())
				}
			}
			if last := fs[len(fs)-1]; last.funcID() != funcID_goexit {
				t.Errorf("walk ends at %s, not goexit", last.name())
			}
		})
	}
}

// ---------------------------------------------------------------------------
// Stack objects and pointer maps.

type threeWords struct {
	a *int
	b int
	c *int
}

type wideObj struct {
	x [3]int
	p *int
	y [70]int
	q *int // word 74: in the tenth mask byte
	z int
}

//go:noinline
func useThree(p *threeWords) int { return *p.a + p.b + *p.c }

//go:noinline
func useWide(p *wideObj) int { return *p.p + *p.q + p.x[0] }

//go:noinline
func hasStackObjects() int {
	var i int
	o := threeWords{a: &i, b: 1, c: &i} // address taken, does not escape
	w := wideObj{p: &i, q: &i}
	return useThree(&o) + useWide(&w)
}

func TestStackObjects(t *testing.T) {
	if !Supported {
		t.Skip("unsupported")
	}
	hasStackObjects()
	f, ok := FindFunc(funcEntry(hasStackObjects))
	if !ok {
		t.Fatal("FindFunc")
	}
	objs := f.stackObjects()
	if len(objs) != f.numStackObjects() {
		t.Fatalf("StackObjects returned %d, NumStackObjects %d", len(objs), f.numStackObjects())
	}
	frame := frameSize(f)
	check := func(name string, size, ptrBytes int32, ptrWords ...int32) {
		for _, o := range objs {
			if o.size != size || o.ptrBytes != ptrBytes {
				continue
			}
			if o.off >= 0 || o.off < -frame {
				t.Errorf("%s: offset %d outside the %d-byte frame", name, o.off, frame)
			}
			isPtr := map[int32]bool{}
			for _, w := range ptrWords {
				isPtr[w] = true
			}
			for w := int32(0); w < size/ptrSize; w++ {
				if o.isPtr(w) != isPtr[w] {
					t.Errorf("%s: IsPtr(%d) = %v", name, w, o.isPtr(w))
				}
			}
			return
		}
		t.Errorf("no stack object %s (size %d, ptrBytes %d) in %+v", name, size, ptrBytes, objs)
	}
	check("threeWords", 24, 24, 0, 2)
	check("wideObj", int32(unsafe.Sizeof(wideObj{})), 75*ptrSize, 3, 74)
}

// frameSize returns the largest SPDelta of f, its full frame size.
func frameSize(f Func) int32 {
	var most int32
	for pc := f.Entry(); ; pc++ {
		g, ok := FindFunc(pc)
		if !ok || g != f {
			return most
		}
		most = max(most, f.spDelta(pc))
	}
}

// funcEntry returns the entry pc of a top-level function.
func funcEntry(fn func() int) uintptr {
	return **(**uintptr)(unsafe.Pointer(&fn))
}

var sinkPtr *int

// liveLocals keeps two heap pointers and a non-pointer word live across the
// call to inspectCaller, which checks that the caller's locals map marks the
// pointers' slots (and not the integer's).
//
//go:noinline
func liveLocals(t *testing.T) {
	p, q := new(int), new(int)
	sinkPtr = p // heap objects, not stack objects
	sinkPtr = q
	magic := uintptr(0x5eed_1234)
	inspectCaller(t, p, q, magic)
	*p, *q = 1, 2 // keep them live across the call
	runtime.KeepAlive(magic)
}

//go:noinline
//go:nocheckptr
func inspectCaller(t *testing.T, p, q *int, magic uintptr) {
	found := 0
	walkStack(t, func(i int, f Func, pc uintptr, sp, fp unsafe.Pointer) {
		if i != 2 { // 0 walkStack, 1 inspectCaller, 2 liveLocals
			return
		}
		if !strings.HasSuffix(f.name(), ".liveLocals") {
			t.Fatalf("frame 2 is %s", f.name())
		}
		idx := f.pcdata(_PCDATA_StackMapIndex, pc-1)
		bv := f.localsMaps().bitmap(max(idx, 0))
		// The locals map covers the nbit words just below varp, which is
		// below the return address (amd64) and the frame-pointer word.
		varp := unsafe.Add(fp, -retPushed-8)
		for w := int32(0); w < bv.n; w++ {
			v := *(*uintptr)(unsafe.Add(varp, -int(bv.n-w)*ptrSize))
			switch {
			case bv.bit(w) && (v == uintptr(unsafe.Pointer(p)) || v == uintptr(unsafe.Pointer(q))):
				found++
			case !bv.bit(w) && (v == uintptr(unsafe.Pointer(p)) || v == uintptr(unsafe.Pointer(q))):
				t.Logf("unmarked copy of a pointer in word %d (a dead slot?)", w)
			case bv.bit(w) && v == magic:
				t.Errorf("word %d holds the integer but is marked as a pointer", w)
			}
		}
	})
	if found < 2 {
		t.Errorf("found %d marked slots holding the live pointers, want >= 2", found)
	}
}

func TestLocalsMap(t *testing.T) {
	if !Supported {
		t.Skip("unsupported")
	}
	liveLocals(t)
}

func TestMapIndexPanics(t *testing.T) {
	if !Supported {
		t.Skip("unsupported")
	}
	f, _ := FindFunc(funcPC(t))
	m := f.localsMaps()
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "out of range") {
			t.Errorf("Map(N) did not panic clearly: %v", r)
		}
	}()
	m.bitmap(m.n())
}

func TestAllocationFree(t *testing.T) {
	if !Supported {
		t.Skip("unsupported")
	}
	pc := funcPC(t)
	f, _ := FindFunc(pc)
	var sink int32
	n := testing.AllocsPerRun(100, func() {
		g, _ := FindFunc(pc)
		sink += g.spDelta(pc) + g.pcdata(_PCDATA_StackMapIndex, pc-1) + g.localsMaps().bitmap(0).n
		sink += int32(len(g.name())) + int32(g.numStackObjects())
	})
	if n != 0 {
		t.Errorf("hot path allocates %v times", n)
	}
	_ = f
}

// ---------------------------------------------------------------------------
// Benchmarks of the hot paths.

// benchPC returns a return pc in testing.(*B).runN, a mid-sized function,
// as the engine would look up for a caller frame.
func benchPC(b *testing.B) (Func, uintptr) {
	if !Supported {
		b.Skip("unsupported")
	}
	var pcs [1]uintptr
	runtime.Callers(3, pcs[:]) // 0 Callers, 1 benchPC, 2 BenchmarkX, 3 runN
	f, ok := FindFunc(pcs[0])
	if !ok {
		b.Fatal("FindFunc")
	}
	return f, pcs[0]
}

func BenchmarkFindFunc(b *testing.B) {
	_, pc := benchPC(b)
	for b.Loop() {
		FindFunc(pc)
	}
}

func BenchmarkSPDelta(b *testing.B) {
	f, pc := benchPC(b)
	for b.Loop() {
		f.spDelta(pc)
	}
}

func BenchmarkPCData(b *testing.B) {
	f, pc := benchPC(b)
	for b.Loop() {
		f.pcdata(_PCDATA_StackMapIndex, pc-1)
	}
}

func BenchmarkMap(b *testing.B) {
	f, pc := benchPC(b)
	m := f.localsMaps()
	i := max(f.pcdata(_PCDATA_StackMapIndex, pc-1), 0)
	for b.Loop() {
		m.bitmap(i)
	}
}

func BenchmarkSelfCheck(b *testing.B) {
	for b.Loop() {
		if err := SelfCheck(); err != nil {
			b.Fatal(err)
		}
	}
}

var staticProbe int

func TestStaticRange(t *testing.T) {
	if staticLo == 0 {
		t.Fatal("no static range: every pointer would be shadowed")
	}
	heap := new(int)
	for _, c := range []struct {
		name string
		p    uintptr
		want bool
	}{
		{"a global", uintptr(unsafe.Pointer(&staticProbe)), true},
		{"a function", reflect.ValueOf(TestStaticRange).Pointer(), true},
		{"a heap object", uintptr(unsafe.Pointer(heap)), false},
	} {
		if got := isStatic(c.p); got != c.want {
			t.Errorf("isStatic(%s at %#x) = %v, want %v (range %#x-%#x)", c.name, c.p, got, c.want, staticLo, staticHi)
		}
	}
}
