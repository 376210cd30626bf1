package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

func TestIdleServer(t *testing.T) {
	for _, tlsArg := range []string{"-tls=false", "-tls"} {
		var out bytes.Buffer
		// Until the clients have had 30 pushes: TLS handshakes under
		// -race on a loaded machine can take most of a second. -d is
		// the hang bound.
		err := run([]string{"-addr", "127.0.0.1:0", "-clients", "30", "-interval", "100ms", "-received", "30", "-d", "20s", tlsArg}, &out)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		var conns, sent, recv int
		fmt.Sscanf(lines[len(lines)-1], "idleserver: %d connections, %d pushes sent, %d received", &conns, &sent, &recv)
		if sent == 0 || recv == 0 || strings.Contains(out.String(), "client:") {
			t.Errorf("%s: output:\n%s", tlsArg, out.String())
		}
	}
}
