//go:build !negcontrol

package httpserve

// Negative controls: switches that break a mechanism on purpose, so that a
// test can show it fails without it. They exist only in builds with the
// negcontrol tag; in every other build they are constants the compiler
// removes, so nothing a user imports can flip them.

// brokenRelease keeps a connection's active part (its reader and writer)
// when it goes idle, instead of giving it back to the pool.
const brokenRelease = false
