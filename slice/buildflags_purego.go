//go:build purego

package slice

// puregoEnabled: the purego tag asks for no assembly, so no engine.
const puregoEnabled = true
