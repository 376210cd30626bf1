//go:build !race && (linux || darwin || freebsd)

package poll

// raceBuild: see buffer_race_on_test.go.
const raceBuild = false
