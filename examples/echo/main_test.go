package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestEcho(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"-addr", "127.0.0.1:0", "-clients", "20", "-d", "300ms"}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "20 connections served") || strings.Contains(out.String(), "client:") {
		t.Errorf("output:\n%s", out.String())
	}
}

func TestHelp(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"-h"}, &out); err == nil {
		t.Error("-h: no error")
	}
}
