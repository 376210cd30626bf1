//go:build negcontrol

package sched

import (
	"fmt"
	"testing"
)

// TestCancelGrantControl is the negative control of the cancel-versus-
// grant stress: with syncList.abandon dropping a grant that raced with a
// cancellation (dropGrant), the Mutex, Semaphore and WaitGroup stresses
// must each catch a lost grant. They run with tasks only, so that the
// lost grant shows as a deadlock Run reports, or in what a round leaves,
// rather than as goroutines blocked where no context reaches (which the
// stress reports too, after stressHang).
func TestCancelGrantControl(t *testing.T) {
	dropGrant = true
	defer func() { dropGrant = false }()
	for _, tc := range []struct {
		name   string
		stress func(stressConfig) error
	}{
		{"Mutex", mutexStress},
		{"Semaphore", semaphoreStress},
		{"WaitGroup", waitGroupStress},
	} {
		for _, carriers := range []int{1, 4} {
			cfg := stressConfig{carriers: carriers, rounds: 100}
			t.Run(tc.name+"/"+cfg.String(), func(t *testing.T) {
				expectCaught(t, cfg, tc.stress, "abandon dropping grants")
			})
		}
	}
}

// TestCancelGrantChanControl is the same for Chan.abandon ignoring a
// counterpart's claim (dropChanClaim): the Chan stress must see a value
// lost, or received although its send failed.
func TestCancelGrantChanControl(t *testing.T) {
	dropChanClaim = true
	defer func() { dropChanClaim = false }()
	for _, capacity := range []int{0, 2} {
		for _, carriers := range []int{1, 4} {
			cfg := stressConfig{carriers: carriers, rounds: 100, goroutines: true}
			t.Run(fmt.Sprintf("cap=%d/%v", capacity, cfg), func(t *testing.T) {
				expectCaught(t, cfg, func(cfg stressConfig) error { return chanStress(cfg, capacity) },
					"Chan.abandon ignoring claims")
			})
		}
	}
}

func expectCaught(t *testing.T, cfg stressConfig, stress func(stressConfig) error, broken string) {
	err := stress(cfg)
	if err == nil {
		t.Fatalf("%d rounds with %s passed: the stress cannot fail", cfg.rounds, broken)
	}
	t.Logf("caught, as expected: %.300s", err)
}
