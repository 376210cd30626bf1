package httpserve

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The cases here run against this package's Server and against net/http's,
// with the same handler and settings, and what each observes (status,
// framing, headers, body, trailers, connection reuse, the bytes on the
// wire) must be the same: net/http's behaviour is the expectation. Each
// case also checks the point it is about, so that it cannot pass with both
// servers failing the same way (a refused connection, say).

// compatMux is the handler of the cases.
func compatMux() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
	mux.HandleFunc("/html", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<html><body>hi</body></html>") })
	mux.HandleFunc("/nobody", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, strings.Repeat("x", 5000)) })
	mux.HandleFunc("/flush", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "a")
		w.(http.Flusher).Flush()
		io.WriteString(w, "b")
	})
	mux.HandleFunc("/close", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		io.WriteString(w, "bye")
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s len=%d te=%v body=%q trailer=%v", r.Proto, r.ContentLength, r.TransferEncoding, b, r.Trailer)
		if err != nil {
			fmt.Fprintf(w, " error=%v", simpleErr(err))
		}
	})
	mux.HandleFunc("/ignore", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ignored") })
	mux.HandleFunc("/trailer", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Sum, Host")
		io.WriteString(w, "body")
		w.Header().Set("X-Sum", "42")
		w.Header().Set("Host", "not allowed as a trailer")
	})
	mux.HandleFunc("/trailerprefix", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "body")
		w.(http.Flusher).Flush()
		w.Header().Set(http.TrailerPrefix+"X-Late", "yes")
	})
	mux.HandleFunc("/early", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload; as=style")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Set("X-Final", "1")
		io.WriteString(w, "done")
	})
	mux.HandleFunc("/sleep", func(w http.ResponseWriter, r *http.Request) {
		d, _ := time.ParseDuration(r.URL.Query().Get("d"))
		time.Sleep(d)
		io.WriteString(w, "late")
	})
	mux.HandleFunc("/ctxsleep", func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		select {
		case <-r.Context().Done():
			io.WriteString(w, "cancelled")
			return
		case <-time.After(30 * time.Millisecond):
		}
		io.WriteString(w, "ctx")
	})
	mux.HandleFunc("/short", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		io.WriteString(w, "hello")
	})
	mux.HandleFunc("/long", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "3")
		_, err := io.WriteString(w, "hello")
		w.Header().Set("X-Ignored", fmt.Sprint(err))
	})
	mux.HandleFunc("/status/{code}", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.PathValue("code"))
		w.Header().Set("Content-Type", "text/x-mine")
		w.Header().Set("Content-Length", "4")
		w.WriteHeader(code)
		_, err := io.WriteString(w, "body")
		fmt.Fprintf(io.Discard, "%v", err)
	})
	mux.HandleFunc("/copy", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(w, strings.NewReader(strings.Repeat("0123456789", 10000)))
	})
	mux.HandleFunc("/headlength", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1234")
		if r.Method != "HEAD" {
			io.WriteString(w, strings.Repeat("z", 1234))
		}
	})
	mux.HandleFunc("/date", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", "Mon, 02 Jan 2006 15:04:05 GMT")
		io.WriteString(w, "dated")
	})
	mux.HandleFunc("/readsome", func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 3)
		io.ReadFull(r.Body, b)
		fmt.Fprintf(w, "read %q", b)
	})
	mux.HandleFunc("/closebody", func(w http.ResponseWriter, r *http.Request) {
		r.Body.Close()
		_, err := r.Body.Read(make([]byte, 1))
		fmt.Fprintf(w, "closed %v", err)
	})
	mux.HandleFunc("/te/{te}", func(w http.ResponseWriter, r *http.Request) {
		if te := r.PathValue("te"); te != "none" {
			w.Header().Set("Transfer-Encoding", te)
		}
		if r.URL.Query().Has("cl") {
			w.Header().Set("Content-Length", "4")
		}
		if r.URL.Query().Has("ce") {
			w.Header().Set("Content-Encoding", "gzip")
		}
		if r.URL.Query().Has("ka") {
			w.Header().Set("Connection", "keep-alive")
		}
		w.Write(nil)
		io.WriteString(w, "<!DOCTYPE html>")
	})
	mux.HandleFunc("/url", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s host=%q uri=%q", r.Method, r.Proto, r.Host, r.RequestURI)
	})
	return mux
}

type compatCase struct {
	name string
	cfg  serverConfig
	run  func(t *testing.T, ts *testServer) string
	// go126 names what net/http changed in Go 1.27 and this server does
	// not follow (it answers as Go 1.26's net/http): the case is compared
	// on Go 1.26 only.
	go126 string
}

func TestCompat(t *testing.T) {
	mux := compatMux()
	for _, c := range compatCases {
		t.Run(c.name, func(t *testing.T) {
			if c.go126 != "" && !strings.HasPrefix(runtime.Version(), "go1.26") {
				t.Skipf("known difference from net/http since Go 1.27: %s", c.go126)
			}
			both(t, mux, c.cfg, c.run)
		})
	}
}

// must fails the test unless s contains each of want: the point of a case.
func must(t *testing.T, s string, want ...string) string {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(s, w) {
			t.Errorf("want %q in:\n%s", w, s)
		}
	}
	return s
}

func mustNot(t *testing.T, s string, not ...string) string {
	t.Helper()
	for _, w := range not {
		if strings.Contains(s, w) {
			t.Errorf("do not want %q in:\n%s", w, s)
		}
	}
	return s
}

const sleepQuery = "/sleep?d=600ms"

var compatCases = []compatCase{
	{name: "KeepAlive", run: func(t *testing.T, ts *testServer) string {
		c := newClient(t)
		var s string
		for range 3 {
			s += do(t, c, get(t, ts.url+"/hello"), "Content-Type", "Connection")
		}
		return must(t, s, "reused=false", "reused=true 200 OK close=false length=5", `body "hello"`)
	}},
	{name: "ConnectionCloseRequest", run: func(t *testing.T, ts *testServer) string {
		c := newClient(t)
		var s string
		for range 2 {
			req := get(t, ts.url+"/hello")
			req.Close = true
			s += do(t, c, req, "Connection")
		}
		return mustNot(t, must(t, s, "close=true"), "reused=true")
	}},
	{name: "ConnectionCloseHandler", run: func(t *testing.T, ts *testServer) string {
		c := newClient(t)
		s := do(t, c, get(t, ts.url+"/close"), "Connection")
		s += do(t, c, get(t, ts.url+"/hello"), "Connection")
		return mustNot(t, must(t, s, "200 OK close=true length=3"), "reused=true")
	}},
	{name: "HTTP10", run: func(t *testing.T, ts *testServer) string {
		rc := dialRaw(t, ts.addr)
		rc.send("GET /hello HTTP/1.0\r\n\r\n")
		s := rc.rest()
		rc = dialRaw(t, ts.addr)
		rc.send("GET /flush HTTP/1.0\r\n\r\n")
		s += "\n" + rc.rest()
		return must(t, s, "HTTP/1.0 200 OK", "hello<EOF>", "ab<EOF>")
	}},
	{name: "HTTP10KeepAlive", run: func(t *testing.T, ts *testServer) string {
		rc := dialRaw(t, ts.addr)
		var s string
		for range 2 {
			rc.send("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
			s += rc.response("GET")
		}
		// Without a length, the body ends with the connection.
		rc.send("GET /flush HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
		s += rc.rest()
		return must(t, s, `Connection: ["keep-alive"]`, `body "hello"`, "ab<EOF>")
	}},
	{name: "ChunkedRequest", run: func(t *testing.T, ts *testServer) string {
		c := newClient(t)
		req, _ := http.NewRequest("POST", ts.url+"/echo", io.MultiReader(strings.NewReader("chunk"), strings.NewReader("ed")))
		req.ContentLength = -1
		s := do(t, c, req)
		rc := dialRaw(t, ts.addr)
		rc.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
		s += rc.response("POST")
		return must(t, s, `te=[chunked] body=\"chunked\"`, `body=\"abcde\"`)
	}},
	{name: "ChunkedResponse", run: func(t *testing.T, ts *testServer) string {
		c := newClient(t)
		s := do(t, c, get(t, ts.url+"/big"), "Content-Length")
		s += do(t, c, get(t, ts.url+"/flush"), "Content-Length")
		rc := dialRaw(t, ts.addr)
		rc.send("GET /flush HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		s += rc.rest()
		return must(t, s, "length=-1 te=[chunked]", "1\r\na\r\n1\r\nb\r\n0\r\n\r\n<EOF>")
	}},
	{name: "ResponseTrailers", run: func(t *testing.T, ts *testServer) string {
		c := newClient(t)
		s := do(t, c, get(t, ts.url+"/trailer"), "Trailer")
		s += do(t, c, get(t, ts.url+"/trailerprefix"), "Trailer")
		rc := dialRaw(t, ts.addr)
		rc.send("GET /trailer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		s += rc.rest()
		return must(t, s, "X-Sum:[42]]", "trailer map[X-Late:[yes]]", "0\r\nX-Sum: 42\r\n\r\n<EOF>")
	}},
	{name: "RequestTrailers", run: func(t *testing.T, ts *testServer) string {
		c := newClient(t)
		req, _ := http.NewRequest("POST", ts.url+"/echo", io.MultiReader(strings.NewReader("data")))
		req.ContentLength = -1
		req.Trailer = http.Header{"X-Req": {"v"}}
		s := do(t, c, req)
		return must(t, s, "trailer=map[X-Req:[v]]")
	}},
	{name: "HEAD", run: func(t *testing.T, ts *testServer) string {
		rc := dialRaw(t, ts.addr)
		var s string
		for _, p := range []string{"/hello", "/nobody", "/big", "/flush"} {
			rc.send("HEAD " + p + " HTTP/1.1\r\nHost: x\r\n\r\n")
			s += rc.response("HEAD")
		}
		rc.send("GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		s += rc.rest()
		return must(t, s, "Content-Length: [\"5\"]", "hello<EOF>")
	}},
	{name: "ExpectContinue", run: func(t *testing.T, ts *testServer) string {
		c := newClient(t)
		got100 := false
		req, _ := http.NewRequest("POST", ts.url+"/echo", strings.NewReader("payload"))
		req.Header.Set("Expect", "100-continue")
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			Got100Continue: func() { got100 = true },
		}))
		s := do(t, c, req)
		s += fmt.Sprintf("got100=%v\n", got100)
		rc := dialRaw(t, ts.addr)
		rc.send("POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
		s += rc.response("POST")
		rc.send("hello")
		s += rc.response("POST")
		// The handler answers without reading: no "100 Continue", and
		// the connection closes once the client has sent its body
		// (net/http waits for it; this server closes at once, which the
		// client, sending, cannot tell apart).
		rc.send("POST /ignore HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
		s += rc.response("POST")
		rc.send("hello")
		s += rc.rest()
		return must(t, s, "got100=true", "HTTP/1.1 100 Continue", `body=\"hello\"`, `body "ignored"`, "close=true", "<EOF>")
	}},
	{name: "ExpectationFailed", run: func(t *testing.T, ts *testServer) string {
		rc := dialRaw(t, ts.addr)
		rc.send("POST /echo HTTP/1.1\r\nHost: x\r\nExpect: something-else\r\nContent-Length: 5\r\n\r\nhello")
		return must(t, rc.rest(), "417 Expectation Failed", "<EOF>")
	}},
	{name: "AutoContentTypeDate", run: func(t *testing.T, ts *testServer) string {
		c := newClient(t)
		s := do(t, c, get(t, ts.url+"/html"), "Content-Type")
		s += do(t, c, get(t, ts.url+"/hello"), "Content-Type")
		s += do(t, c, get(t, ts.url+"/nobody"), "Content-Type")
		return mustNot(t, must(t, s, "text/html; charset=utf-8", "text/plain; charset=utf-8"), "no Date", "bad Date")
	}},
	{name: "UnreadBodySmall", run: func(t *testing.T, ts *testServer) string {
		c := newClient(t)
		req, _ := http.NewRequest("POST", ts.url+"/ignore", strings.NewReader(strings.Repeat("b", 1000)))
		s := do(t, c, req)
		chunked, _ := http.NewRequest("POST", ts.url+"/ignore", io.MultiReader(strings.NewReader(strings.Repeat("c", 1000))))
		chunked.ContentLength = -1
		s += do(t, c, chunked)
		s += do(t, c, get(t, ts.url+"/hello"))
		return mustNot(t, must(t, s, "reused=true"), "close=true", "reused=false 200 OK close=false length=5")
	}},
	{name: "UnreadBodyLarge", run: func(t *testing.T, ts *testServer) string {
		rc := dialRaw(t, ts.addr)
		const n = 300 << 10
		go io.WriteString(rc.Conn, fmt.Sprintf("POST /ignore HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", n, strings.Repeat("b", n)))
		s := rc.response("POST")
		s += rc.rest()
		return must(t, s, "close=true", "<EOF>")
	}},
	{name: "Pipelining", run: func(t *testing.T, ts *testServer) string {
		rc := dialRaw(t, ts.addr)
		rc.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n" +
			"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc" +
			"HEAD /big HTTP/1.1\r\nHost: x\r\n\r\n" +
			"GET /flush HTTP/1.1\r\nHost: x\r\n\r\n" +
			"GET /html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" +
			"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
		s := rc.response("GET") + rc.response("POST") + rc.response("HEAD") + rc.response("GET") + rc.rest()
		return must(t, s, `body "hello"`, `body=\"abc\"`, `body "ab"`, "<html><body>hi</body></html><EOF>")
	}},
	{name: "BadRequests", run: func(t *testing.T, ts *testServer) string {
		var s string
		for _, req := range []string{
			"GARBAGE\r\n\r\n",
			"GET / HTTP/1.1\r\nHost: x\r\nBad Header: v\r\n\r\n",
			"GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n",
			"GET / HTTP/1.1\r\nHost: x\r\nX: a\x01b\r\n\r\n",
			"GET / HTTP/1.1\r\n\r\n",
			"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
			"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
			"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
			"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
			"GET / HTTP/2.0\r\nHost: x\r\n\r\n",
			"GET / HTTP/3.1\r\nHost: x\r\n\r\n",
			"GET /hello HTTP/1.1\r\nHost: x\r\n\r\nNOT A REQUEST\r\n\r\n",
		} {
			rc := dialRaw(t, ts.addr)
			rc.send(req)
			s += fmt.Sprintf("%q:\n%s\n", req, rc.rest())
		}
		return must(t, s, "400 Bad Request", "missing required Host header",
			"501 Not Implemented", "505 HTTP Version Not Supported")
	}},
	{name: "MaxHeaderBytes", cfg: serverConfig{MaxHeaderBytes: 1 << 10}, run: func(t *testing.T, ts *testServer) string {
		rc := dialRaw(t, ts.addr)
		rc.send("GET /hello HTTP/1.1\r\nHost: x\r\nX-Small: " + strings.Repeat("a", 1<<10) + "\r\n\r\n")
		s := rc.response("GET")
		rc.send("GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 16<<10) + "\r\n\r\n")
		s += rc.rest()
		return must(t, s, `body "hello"`, "431 Request Header Fields Too Large", "<EOF>")
	}},
	{name: "ReadHeaderTimeout", cfg: serverConfig{ReadHeaderTimeout: 50 * time.Millisecond}, run: func(t *testing.T, ts *testServer) string {
		rc := dialRaw(t, ts.addr)
		rc.send("GET /hello HTTP/1.1\r\nHost: x\r\n") // never finished
		s := rc.rest()
		rc = dialRaw(t, ts.addr) // nothing sent
		s += rc.rest()
		return must(t, s, "<EOF><EOF>")
	}},
	{name: "ReadTimeout", cfg: serverConfig{ReadTimeout: 100 * time.Millisecond}, run: func(t *testing.T, ts *testServer) string {
		rc := dialRaw(t, ts.addr)
		s := rc.rest() // nothing sent
		// A body that does not come in time: the handler's read fails.
		rc = dialRaw(t, ts.addr)
		rc.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
		s += rc.response("POST") + rc.rest()
		// Idle after a request: ReadTimeout is the idle timeout too.
		rc = dialRaw(t, ts.addr)
		rc.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
		s += rc.response("GET") + rc.rest()
		return must(t, s, "error=timeout", `body "hello"`, "<EOF>")
	}},
	{name: "IdleTimeout", cfg: serverConfig{IdleTimeout: 50 * time.Millisecond}, run: func(t *testing.T, ts *testServer) string {
		rc := dialRaw(t, ts.addr)
		rc.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
		s := rc.response("GET") + rc.rest()
		return must(t, s, `body "hello"`, "<EOF>")
	}},
	{name: "WriteTimeout", cfg: serverConfig{WriteTimeout: 250 * time.Millisecond}, run: func(t *testing.T, ts *testServer) string {
		c := newClient(t)
		s := do(t, c, get(t, ts.url+"/hello")) // in time
		rc := dialRaw(t, ts.addr)
		rc.send("GET " + sleepQuery + " HTTP/1.1\r\nHost: x\r\n\r\n")
		s += rc.rest()
		return must(t, s, `body "hello"`, "<EOF>")
	}},
	{name: "EarlyHints", run: func(t *testing.T, ts *testServer) string {
		c := newClient(t)
		var hints []string
		req := get(t, ts.url+"/early")
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
				hints = append(hints, fmt.Sprint(code, h))
				return nil
			},
		}))
		s := do(t, c, req, "Link", "X-Final")
		s += fmt.Sprintf("hints %q\n", hints)
		rc := dialRaw(t, ts.addr)
		rc.send("GET /early HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		s += rc.rest()
		return must(t, s, "HTTP/1.1 103 Early Hints\r\nLink: </style.css>", "103 map[Link:", `X-Final: ["1"]`)
	}},
	{name: "OptionsStar", run: func(t *testing.T, ts *testServer) string {
		rc := dialRaw(t, ts.addr)
		rc.send("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n")
		s := rc.response("OPTIONS")
		rc.send("OPTIONS * HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
		s += rc.response("OPTIONS")
		rc.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
		s += rc.response("GET")
		return must(t, s, "200 OK", `Content-Length: ["0"]`, `body "hello"`)
	}},
	{name: "ContextWatchKeepsNextByte", run: func(t *testing.T, ts *testServer) string {
		// The handler looks at its context (the watch starts) while the
		// client sends the next request: its first byte may be read by
		// the watch, and must reach the next request.
		rc := dialRaw(t, ts.addr)
		var s string
		for _, first := range []string{
			"GET /ctxsleep HTTP/1.1\r\nHost: x\r\n\r\n",
			"POST /ctxsleep HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab",
			"POST /ctxsleep HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n",
		} {
			rc.send(first)
			time.Sleep(10 * time.Millisecond)
			rc.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
			s += rc.response("GET") + rc.response("GET")
		}
		return mustNot(t, must(t, s, `body "ctx"`, `body "hello"`), "cancelled")
	}},
	{name: "WrongLength", run: func(t *testing.T, ts *testServer) string {
		var s string
		for _, p := range []string{"/short", "/long"} {
			rc := dialRaw(t, ts.addr)
			rc.send("GET " + p + " HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
			s += rc.rest() + "\n"
		}
		return must(t, s, "Content-Length: 10\r\n", "hello<EOF>")
	}},
	{name: "StatusWithoutBody", run: func(t *testing.T, ts *testServer) string {
		rc := dialRaw(t, ts.addr)
		var s string
		for _, code := range []string{"204", "304", "200", "404", "599", "299"} {
			rc.send("GET /status/" + code + " HTTP/1.1\r\nHost: x\r\n\r\n")
			s += rc.response("GET")
		}
		rc.send("GET /status/304 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		s += rc.rest()
		return must(t, s, "204 No Content", "304 Not Modified", "599 status code 599")
	}},
	{name: "CopyAndExplicitLengths", run: func(t *testing.T, ts *testServer) string {
		c := newClient(t)
		s := do(t, c, get(t, ts.url+"/copy"), "Content-Type")
		s += do(t, c, get(t, ts.url+"/headlength"))
		head, _ := http.NewRequest("HEAD", ts.url+"/headlength", nil)
		s += do(t, c, head, "Content-Length")
		s += do(t, c, get(t, ts.url+"/date"), "Date")
		return must(t, s, "length=-1 te=[chunked]", "length=1234", `Date: ["Mon, 02 Jan 2006 15:04:05 GMT"]`)
	}},
	{name: "BodyPartlyReadOrClosed", run: func(t *testing.T, ts *testServer) string {
		c := newClient(t)
		var s string
		for _, p := range []string{"/readsome", "/closebody"} {
			for _, n := range []int{10, 300 << 10} {
				req, _ := http.NewRequest("POST", ts.url+p, strings.NewReader(strings.Repeat("q", n)))
				s += do(t, c, req)
			}
		}
		return must(t, s, `read \"qqq\"`, "closed http: invalid Read on closed Body", "close=true")
	}},
	{name: "RequestForms", run: func(t *testing.T, ts *testServer) string {
		rc := dialRaw(t, ts.addr)
		var s string
		for _, req := range []string{
			"GET http://example.com/url?q HTTP/1.1\r\nHost: example.com\r\n\r\n",
			"GET /url HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
			"GET /url HTTP/1.1\r\nHost: example.com:8080\r\nConnection: keep-alive\r\n\r\n",
			"POST /url HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n",
			"\r\nGET /url HTTP/1.1\r\nHost: x\r\n\r\n",
		} {
			rc.send(req)
			s += rc.response("GET")
		}
		rc.send("POST /url HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nab")
		s += rc.rest()
		return must(t, s, `host=\"example.com\" uri=\"http://example.com/url?q\"`, "HTTP/1.0 200 OK")
	}},
	{name: "KeepAlivesDisabled", cfg: serverConfig{NoKeepAlives: true}, run: func(t *testing.T, ts *testServer) string {
		c := newClient(t)
		s := do(t, c, get(t, ts.url+"/hello")) + do(t, c, get(t, ts.url+"/hello"))
		return mustNot(t, must(t, s, "close=true", `body "hello"`), "reused=true")
	}},
	{name: "KeepAlivesDisabledHTTP10", cfg: serverConfig{NoKeepAlives: true}, run: func(t *testing.T, ts *testServer) string {
		rc := dialRaw(t, ts.addr)
		rc.send("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
		return must(t, rc.rest(), "hello<EOF>")
	}, go126: `with keep-alives disabled, an HTTP/1.0 keep-alive request gets "Connection: keep-alive" and the connection closes (Go 1.27 leaves the header out)`},
	{name: "CONNECT", run: func(t *testing.T, ts *testServer) string {
		rc := dialRaw(t, ts.addr)
		rc.send("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
		s := rc.response("CONNECT")
		rc.send("GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		return must(t, s+rc.rest(), "404 Not Found")
	}, go126: "the connection of a CONNECT request that was not hijacked is kept alive (Go 1.27 closes it after the response)"},
	{name: "ManyHeaderValues", run: func(t *testing.T, ts *testServer) string {
		rc := dialRaw(t, ts.addr)
		rc.send("GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + strings.Repeat("X-Many: a\r\n", 600) + "\r\n")
		return must(t, rc.rest(), "<EOF>")
	}, go126: "a request with more than 500 header lines is served (Go 1.27 answers 431: Server.MaxHeaderValueCount, DefaultMaxHeaderValueCount)"},
	{name: "HalfClose", run: func(t *testing.T, ts *testServer) string {
		// The client sends its request and shuts its side down: the
		// response still comes (a handler that watches its context sees
		// it cancelled, on both servers), then the connection closes.
		var s string
		for _, req := range []string{
			"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n",
			"GET /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /html HTTP/1.1\r\nHost: x\r\n\r\n",
			"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
			"GET /ctxsleep HTTP/1.1\r\nHost: x\r\n\r\n",
			"GET /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /hel",
		} {
			rc := dialRaw(t, ts.addr)
			rc.send(req)
			rc.Conn.(*net.TCPConn).CloseWrite()
			s += rc.rest() + "\n"
		}
		return must(t, s, "hello<EOF>", "hi</body></html><EOF>", `body="abc"`, "cancelled")
	}},
	{name: "HandlerFraming", run: func(t *testing.T, ts *testServer) string {
		var s string
		for _, req := range []string{"GET /te/none", "GET /te/chunked", "GET /te/none?cl", "GET /te/chunked?cl",
			"GET /te/none?ce", "GET /te/none?ka", "GET /te/gzip", "GET /te/identity", "HEAD /te/none?cl"} {
			rc := dialRaw(t, ts.addr)
			rc.send(req + " HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
			s += req + ":\n" + rc.rest() + "\n"
		}
		return must(t, s, "text/html; charset=utf-8", "<!DOCTYPE html><EOF>")
	}},
	{name: "PipeliningMany", run: func(t *testing.T, ts *testServer) string {
		// More pipelined requests than the reader holds, some with
		// bodies (one chunked with trailers the handler leaves unread).
		rc := dialRaw(t, ts.addr)
		const n = 300
		var b strings.Builder
		for i := range n {
			switch i % 3 {
			case 0:
				b.WriteString("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
			case 1:
				b.WriteString("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nxyz")
			case 2:
				b.WriteString("POST /ignore HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n")
			}
		}
		go io.WriteString(rc.Conn, b.String())
		var s strings.Builder
		for i := range n {
			r := rc.response("GET")
			if i < 3 {
				s.WriteString(r)
			} else if !strings.Contains(r, "200 OK") {
				s.WriteString(r)
			}
		}
		return must(t, s.String(), `body "hello"`, `body=\"xyz\"`, `body "ignored"`)
	}},
}
