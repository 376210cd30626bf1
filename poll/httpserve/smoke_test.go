//go:build linux || darwin || freebsd

package httpserve

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stackslice/stackslice/poll"
	"github.com/stackslice/stackslice/sched"
)

func TestSmoke(t *testing.T) {
	s := sched.New()
	defer s.Close()
	ln, err := poll.Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "hello %s", r.URL.Query().Get("n")) })
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) { io.Copy(w, r.Body) })
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(strings.Repeat("x", 100000))) })
	mux.HandleFunc("/ctx", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	srv := &Server{Handler: mux}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	url := "http://" + ln.Addr().String()
	c := &http.Client{}
	for i := 0; i < 5; i++ {
		resp, err := c.Get(fmt.Sprintf("%s/hello?n=%d", url, i))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Logf("%d %q %v", resp.StatusCode, b, resp.Header)
	}
	resp, err := c.Post(url+"/echo", "text/plain", strings.NewReader(strings.Repeat("abc", 10000)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	t.Logf("echo %d %d %v", resp.StatusCode, len(b), resp.Header)
	resp, err = c.Get(url + "/big")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	t.Logf("big %d %d %v", resp.StatusCode, len(b), resp.Header)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	req, _ := http.NewRequestWithContext(ctx, "GET", url+"/ctx", nil)
	t0 := time.Now()
	_, err = c.Do(req)
	cancel()
	t.Logf("ctx: %v after %v", err, time.Since(t0))
	sctx, scancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer scancel()
	t0 = time.Now()
	if err := srv.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("shutdown in %v; serve: %v", time.Since(t0), <-done)
}
