//go:build !unix

package main

import (
	"errors"
	"time"
)

// processCPU is not implemented here: -idlecpu needs getrusage.
func processCPU() (time.Duration, error) {
	return 0, errors.New("-idlecpu needs getrusage (a Unix system)")
}
