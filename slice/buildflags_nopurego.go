//go:build !purego

package slice

const puregoEnabled = false
