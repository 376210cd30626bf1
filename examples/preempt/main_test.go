package main

import (
	"testing"
	"time"
)

// Each load runs briefly and reports wake-ups; the blocked ones on one
// carrier, where only a stand-in lets the sleepers go on.
func TestRunShort(t *testing.T) {
	for _, block := range []string{"", "sleep", "chan", "mutex", "pipe", "file"} {
		cfg := config{d: 800 * time.Millisecond, sleepers: 50, block: block, blockFor: 100 * time.Millisecond,
			carriers: -1, standIns: -1}
		if err := cfg.defaults(); err != nil {
			t.Fatal(err)
		}
		r, err := run(cfg)
		if err != nil {
			t.Fatalf("-block %q: %v", block, err)
		}
		if r.N == 0 {
			t.Fatalf("-block %q: no wake-ups recorded after the load began", block)
		}
		if r.P50 > r.Max {
			t.Fatalf("-block %q: bad summary %+v", block, r)
		}
		if block != "" && (r.Blocks == 0 || r.StandIns == 0) {
			t.Fatalf("-block %q: %d blocks, %d stand-ins; want some of each", block, r.Blocks, r.StandIns)
		}
	}
}

// Every TLS client echoes, with one carrier: its reading and writing
// tasks block each other's carrier through crypto/tls's handshake mutex.
func TestTLSClientsOneCarrier(t *testing.T) {
	cfg := config{d: time.Minute, sleepers: 10, block: "tls", clients: 20, carriers: 1, standIns: -1}
	if err := cfg.defaults(); err != nil {
		t.Fatal(err)
	}
	r, err := run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if r.Completed != r.Clients {
		t.Fatalf("%d of %d TLS clients echoed within a minute", r.Completed, r.Clients)
	}
}
