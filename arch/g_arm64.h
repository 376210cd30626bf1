// g.stack.hi: the second word of g in every supported Go version (the engine
// checks it at start-up against a local variable's address).
#define g_stackhi 8

// g.racectx: a word the runtime uses only in -race builds (where the engine
// is not built). SwitchIn stores the new coroutine's top there, as an offset
// from g.stack.hi, so that the engine finds the running coroutine in O(1)
// (see GCurrent). At 312 on linux/arm64 as on amd64, in go1.26.8 and
// go1.27.4 (runtime2.go: no field of g before it depends on the
// architecture; checked against the DWARF of arm64 binaries of both).
#define g_current 312
