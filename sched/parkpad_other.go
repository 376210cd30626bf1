//go:build !arm64

package sched

// parkPad is empty where Park's frame has no unused word (see
// parkpad_arm64.go): on amd64 a local there would cost every parked task
// a word.
type parkPad [0]uintptr
