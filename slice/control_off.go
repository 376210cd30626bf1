//go:build !negcontrol

package slice

// Negative controls: switches that break a mechanism on purpose, so that a
// test can show it fails without it. They exist only in builds with the
// negcontrol tag (go test -tags negcontrol); in every other build they are
// constants the compiler removes, so nothing a user imports can flip them.
// The engine's own switches are in package stackmap (BreakForControl).

// mixUnswizzle makes unswizzle put back the wrong shadow entry (the next
// one), so that a packed coroutine resumes with its pointers mixed up.
const mixUnswizzle = false

// breakCurrent makes Resume leave g's record of the running coroutine (see
// findCurrent) set to the coroutine it ran, instead of restoring the outer
// one, once it returns.
const breakCurrent = false

// breakRestores makes a template-mode pack's first test (template.restores)
// accept any pointer where its template has a token, so that coroutines
// whose pointers differ from what the template names are packed bare.
const breakRestores = false

// breakSpare makes a bare template unpack take its template's spare block
// without taking it off the template, so that the next bare unpack gets
// the same block: two coroutines then share one.
const breakSpare = false

// breakDirect makes Resume hand SwitchIn a wrong outer record for g (see
// flagDirect), so that a yield returning straight to Resume leaves g's
// record of the running coroutine wrong.
const breakDirect = false
