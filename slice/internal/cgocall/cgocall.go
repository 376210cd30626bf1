//go:build cgo

// Package cgocall calls a Go function from C, for tests that need a cgo
// callback on the stack (Yield must refuse to save C frames).
package cgocall

/*
extern void goCallback(void);
static void callBack(void) { goCallback(); }
*/
import "C"

var callback func()

//export goCallback
func goCallback() { callback() }

// Call calls f from C, as a cgo callback. Not safe for concurrent use.
func Call(f func()) {
	callback = f
	C.callBack()
}
