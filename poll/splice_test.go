//go:build linux || darwin || freebsd

package poll

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// Tests of Conn.ReadFrom and Conn.WriteTo: splice on Linux, the pooled
// buffer elsewhere and for other readers and writers. A relay here is
//
//	client (std net) -> in (*Conn) --copy--> out (*Conn) -> sink (std net)
//
// with the copy in a goroutine or a coroutine (forEachEnv).

// spliceCases are the behaviours checked per environment; TestSpliceNoFDLeak
// (Linux) runs them all again and counts descriptors.
var spliceCases = []struct {
	name string
	fn   func(t *testing.T, e env)
}{
	{"relay", testSpliceRelay},
	{"echo", testSpliceEcho},
	{"limited", testSpliceLimited},
	{"read-deadline", testSpliceReadDeadline},
	{"write-deadline", testSpliceWriteDeadline},
	{"close-src", testSpliceCloseSrc},
	{"close-dst", testSpliceCloseDst},
	{"src-reset", testSpliceSrcReset},
	{"dst-reset", testSpliceDstReset},
	{"fallback", testSpliceFallback},
}

func TestSplice(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e env) {
		for _, c := range spliceCases {
			t.Run(c.name, func(t *testing.T) { c.fn(t, e) })
		}
	})
}

// payloadSize is the size of the checksummed relay payloads.
func payloadSize() int {
	if testing.Short() {
		return 1 << 20
	}
	return 8 << 20
}

func randomBytes(n int, seed byte) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{seed}).Read(b)
	return b
}

type relayConns struct {
	client, sink net.Conn // std net
	in, out      *Conn
}

// close closes all four connections (again: harmless).
func (r *relayConns) close() {
	for _, c := range []io.Closer{r.client, r.sink, r.in, r.out} {
		if c != nil {
			c.Close()
		}
	}
}

// newRelay connects client -> in and out -> sink: in is accepted and out
// dialed by (a spawned function of) ein and eout.
func newRelay(t *testing.T, ein, eout env, network string) *relayConns {
	t.Helper()
	laddr := func() string {
		if network == "unix" {
			return filepath.Join(t.TempDir(), "s")
		}
		return "127.0.0.1:0"
	}
	ln, err := ein.listen(network, laddr())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	sln, err := net.Listen(network, laddr())
	if err != nil {
		t.Fatal(err)
	}
	defer sln.Close()
	r := &relayConns{}
	t.Cleanup(r.close)
	var aerr, derr error
	accepted := ein.spawn(func() { r.in, aerr = ln.AcceptConn() })
	dialed := eout.spawn(func() { r.out, derr = eout.dial(context.Background(), network, sln.Addr().String()) })
	if r.client, err = net.Dial(network, ln.Addr().String()); err != nil {
		t.Fatal(err)
	}
	wait(t, accepted, "accept")
	wait(t, dialed, "dial")
	if aerr != nil || derr != nil {
		t.Fatalf("accept: %v; dial: %v", aerr, derr)
	}
	sln.(interface{ SetDeadline(time.Time) error }).SetDeadline(time.Now().Add(30 * time.Second))
	if r.sink, err = sln.Accept(); err != nil {
		t.Fatal(err)
	}
	return r
}

func closeWrite(c net.Conn) { c.(interface{ CloseWrite() error }).CloseWrite() }

type sumResult struct {
	n   int64
	sum [32]byte
	err error
}

// sumOf reads c to its end in a goroutine and sends the byte count and
// SHA-256.
func sumOf(c net.Conn) <-chan sumResult {
	ch := make(chan sumResult, 1)
	go func() {
		h := sha256.New()
		n, err := io.Copy(h, c)
		var r sumResult
		r.n, r.err = n, err
		copy(r.sum[:], h.Sum(nil))
		ch <- r
	}()
	return ch
}

// testSpliceRelay moves a random payload through each copy method, over
// TCP and unix sockets, and with the two Conns on different pollers.
func testSpliceRelay(t *testing.T, e env) {
	// The other poller: a test-driven one, closed at cleanup (a
	// scheduler's poller would outlive the test).
	eo := goroutineEnv(t)
	size := payloadSize()
	for i, network := range []string{"tcp", "unix"} {
		for j, method := range []string{"ReadFrom", "io.Copy", "spliceCopy", "generic", "mixed-pollers"} {
			t.Run(network+"/"+method, func(t *testing.T) {
				eout := e
				if method == "mixed-pollers" {
					eout = eo
				}
				r := newRelay(t, e, eout, network)
				payload := randomBytes(size, byte(10*i+j))
				sums := sumOf(r.sink)
				go func() {
					r.client.Write(payload)
					closeWrite(r.client)
				}()
				var n int64
				var err error
				fallback := false
				done := e.spawn(func() {
					switch method {
					case "ReadFrom", "mixed-pollers":
						n, err = r.out.ReadFrom(r.in)
					case "io.Copy": // picks in.WriteTo
						n, err = io.Copy(r.out, r.in)
					case "spliceCopy":
						if n, fallback, err = spliceCopy(r.out, r.in, 1<<63-1); fallback {
							n, err = genericReadFrom(r.out, r.in)
						}
					case "generic":
						n, err = genericReadFrom(r.out, r.in)
					}
					r.out.CloseWrite()
				})
				wait(t, done, method)
				got := recv(t, sums, "sink")
				if err != nil || n != int64(size) {
					t.Errorf("%s: %d bytes, %v; want %d, nil", method, n, err, size)
				}
				if got.err != nil || got.n != int64(size) || got.sum != sha256.Sum256(payload) {
					t.Errorf("sink got %d bytes (%v), checksum match %v", got.n, got.err, got.sum == sha256.Sum256(payload))
				}
				if method == "spliceCopy" && fallback != (runtime.GOOS != "linux") {
					t.Errorf("spliceCopy fell back: %v on %s", fallback, runtime.GOOS)
				}
			})
		}
	}
}

// testSpliceEcho is the proxy's shape: both directions at once, each with
// ReadFrom, the sink echoing.
func testSpliceEcho(t *testing.T, e env) {
	r := newRelay(t, e, e, "tcp")
	size := payloadSize()
	payload := randomBytes(size, 99)
	go func() {
		io.Copy(r.sink, r.sink)
		closeWrite(r.sink)
	}()
	sums := sumOf(r.client)
	go func() {
		r.client.Write(payload)
		closeWrite(r.client)
	}()
	var n1, n2 int64
	var err1, err2 error
	up := e.spawn(func() {
		n1, err1 = r.out.ReadFrom(r.in)
		r.out.CloseWrite()
	})
	down := e.spawn(func() {
		n2, err2 = r.in.ReadFrom(r.out)
		r.in.CloseWrite()
	})
	wait(t, up, "upstream copy")
	wait(t, down, "downstream copy")
	got := recv(t, sums, "client")
	if n1 != int64(size) || n2 != int64(size) || err1 != nil || err2 != nil {
		t.Errorf("copies: %d (%v) and %d (%v), want %d", n1, err1, n2, err2, size)
	}
	if got.err != nil || got.n != int64(size) || got.sum != sha256.Sum256(payload) {
		t.Errorf("client got %d bytes back (%v), checksum match %v", got.n, got.err, got.sum == sha256.Sum256(payload))
	}
}

// testSpliceLimited: an io.LimitedReader of a Conn (ReadFrom and io.CopyN)
// takes exactly its N bytes from the stream, leaves the rest to be read,
// and has N decremented.
func testSpliceLimited(t *testing.T, e env) {
	r := newRelay(t, e, e, "tcp")
	const size, k1, k2 = 1 << 20, 300_001, 77_777
	payload := randomBytes(size, 7)
	sums := sumOf(r.sink)
	go func() {
		r.client.Write(payload)
		closeWrite(r.client)
	}()
	var n0, n1, n2, n3 int64
	var err0, err1, err2, err3 error
	var lr0, lr1 io.LimitedReader
	var rest []byte
	done := e.spawn(func() {
		lr0 = io.LimitedReader{R: r.in, N: 0}
		n0, err0 = r.out.ReadFrom(&lr0)
		lr1 = io.LimitedReader{R: r.in, N: k1}
		n1, err1 = r.out.ReadFrom(&lr1)
		n2, err2 = io.CopyN(r.out, r.in, k2)
		rest = make([]byte, 1000)
		if _, err3 = io.ReadFull(r.in, rest); err3 == nil {
			// N beyond the end of the stream: the copy stops at the end.
			lr := io.LimitedReader{R: r.in, N: size}
			n3, err3 = r.out.ReadFrom(&lr)
			if err3 == nil && lr.N != size-n3 {
				err3 = errors.New("N not decremented")
			}
		}
		r.out.CloseWrite()
	})
	wait(t, done, "limited copies")
	got := recv(t, sums, "sink")
	if n0 != 0 || err0 != nil || lr0.N != 0 {
		t.Errorf("N=0: %d, %v, N=%d", n0, err0, lr0.N)
	}
	if n1 != k1 || err1 != nil || lr1.N != 0 {
		t.Errorf("N=%d: %d, %v, N left %d", k1, n1, err1, lr1.N)
	}
	if n2 != k2 || err2 != nil {
		t.Errorf("CopyN %d: %d, %v", k2, n2, err2)
	}
	if err3 != nil || !bytes.Equal(rest, payload[k1+k2:k1+k2+1000]) || n3 != size-k1-k2-1000 {
		t.Errorf("after the limits: read %v, copied %d (%v)", bytes.Equal(rest, payload[k1+k2:k1+k2+1000]), n3, err3)
	}
	want := append(append([]byte(nil), payload[:k1+k2]...), payload[k1+k2+1000:]...)
	if got.err != nil || got.n != int64(len(want)) || got.sum != sha256.Sum256(want) {
		t.Errorf("sink got %d bytes (%v), want %d; checksum match %v", got.n, got.err, len(want), got.sum == sha256.Sum256(want))
	}
}

// readPrefix reads n bytes from c and checks they are payload's first.
func readPrefix(t *testing.T, c net.Conn, payload []byte, n int64) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	got := make([]byte, n)
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, payload[:n]) {
		t.Errorf("sink: the %d bytes reported written: %v, match %v", n, err, bytes.Equal(got, payload[:n]))
	}
}

// testSpliceReadDeadline: the source's read deadline ends a copy blocked
// waiting for it; what was copied before is reported and delivered.
func testSpliceReadDeadline(t *testing.T, e env) {
	r := newRelay(t, e, e, "tcp")
	payload := randomBytes(64<<10, 3)
	r.client.Write(payload)
	var n int64
	var err error
	start := time.Now()
	done := e.spawn(func() {
		r.in.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, err = r.out.ReadFrom(r.in)
	})
	wait(t, done, "ReadFrom with a read deadline")
	checkOpError(t, err, "readfrom", os.ErrDeadlineExceeded)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("not a timeout: %v", err)
	}
	if el := time.Since(start); el < 100*time.Millisecond {
		t.Errorf("returned after %v, before the deadline", el)
	}
	readPrefix(t, r.sink, payload, n)
	// Cleared, the connections work on: the rest of the payload, and 10
	// bytes more.
	r.in.SetReadDeadline(time.Time{})
	r.client.Write(payload[:10])
	closeWrite(r.client)
	var n2 int64
	done = e.spawn(func() { n2, err = r.out.ReadFrom(r.in) })
	wait(t, done, "ReadFrom after clearing the deadline")
	if err != nil || n2 != int64(len(payload))-n+10 {
		t.Errorf("after clearing the deadline: %d, %v; want %d", n2, err, int64(len(payload))-n+10)
	}
}

// stream writes into c until it fails (it is closed); the channel is
// closed when it stops.
func stream(c net.Conn) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := randomBytes(64<<10, 5)
		for {
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	}()
	return done
}

// testSpliceWriteDeadline: the destination's write deadline ends a copy
// blocked writing to it (the sink does not read); the bytes left in the
// pipe are dropped with it.
func testSpliceWriteDeadline(t *testing.T, e env) {
	r := newRelay(t, e, e, "tcp")
	streaming := stream(r.client)
	var err error
	done := e.spawn(func() {
		r.out.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
		_, err = r.out.ReadFrom(r.in)
	})
	wait(t, done, "ReadFrom with a write deadline")
	checkOpError(t, err, "readfrom", os.ErrDeadlineExceeded)
	r.close()
	recv(t, streaming, "client writer")
}

// testSpliceCloseSrc: Close of the source from another goroutine ends a
// copy blocked waiting for it.
func testSpliceCloseSrc(t *testing.T, e env) {
	r := newRelay(t, e, e, "tcp")
	var err error
	done := e.spawn(func() { _, err = r.out.ReadFrom(r.in) })
	time.Sleep(20 * time.Millisecond) // let it park (not required for correctness)
	go r.in.Close()
	wait(t, done, "ReadFrom after Close of the source")
	checkOpError(t, err, "readfrom", net.ErrClosed)
}

// testSpliceCloseDst: Close of the destination from another goroutine ends
// a copy blocked writing to it.
func testSpliceCloseDst(t *testing.T, e env) {
	r := newRelay(t, e, e, "tcp")
	streaming := stream(r.client)
	var err error
	done := e.spawn(func() { _, err = r.out.ReadFrom(r.in) })
	time.Sleep(200 * time.Millisecond) // let it fill the sink and park
	go r.out.Close()
	wait(t, done, "ReadFrom after Close of the destination")
	checkOpError(t, err, "readfrom", net.ErrClosed)
	r.close()
	recv(t, streaming, "client writer")
}

// testSpliceSrcReset: the source's peer resets the connection.
func testSpliceSrcReset(t *testing.T, e env) {
	r := newRelay(t, e, e, "tcp")
	var n int64
	var err error
	done := e.spawn(func() { n, err = r.out.ReadFrom(r.in) })
	r.client.Write([]byte("some bytes first"))
	time.Sleep(20 * time.Millisecond)
	r.client.(*net.TCPConn).SetLinger(0)
	r.client.Close() // RST
	wait(t, done, "ReadFrom after the source's reset")
	if err != nil {
		checkOpError(t, err, "readfrom", syscall.ECONNRESET)
	}
	readPrefix(t, r.sink, []byte("some bytes first"), n)
}

// testSpliceDstReset: the destination's peer resets while the copy writes.
func testSpliceDstReset(t *testing.T, e env) {
	r := newRelay(t, e, e, "tcp")
	streaming := stream(r.client)
	var err error
	done := e.spawn(func() { _, err = r.out.ReadFrom(r.in) })
	time.Sleep(20 * time.Millisecond)
	r.sink.(*net.TCPConn).SetLinger(0)
	r.sink.Close() // RST
	wait(t, done, "ReadFrom after the destination's reset")
	if !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("got %v, want EPIPE or ECONNRESET", err)
	}
	checkOpError(t, err, "readfrom", err)
	r.close()
	recv(t, streaming, "client writer")
}

var errBoom = errors.New("boom")

type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errBoom
	}
	k := min(len(p), f.n)
	clear(p[:k])
	f.n -= k
	return k, nil
}

type failingWriter struct{}

func (failingWriter) Write(p []byte) (int, error) { return 0, errBoom }

// testSpliceFallback: ReadFrom and WriteTo with other readers and writers
// copy like io.Copy, with io.Copy's errors wrapped in a *net.OpError.
func testSpliceFallback(t *testing.T, e env) {
	sc, cc := pair(t, e)
	payload := randomBytes(300_000, 11)
	// A std *net.TCPConn (a WriterTo) as a reader: its WriteTo must not come
	// back to ReadFrom. Its peer is the Conn side of a second pair.
	src, stdSrc := pair(t, e)
	go func() {
		src.Write(payload)
		src.CloseWrite()
	}()
	readers := []struct {
		name string
		r    io.Reader
		n    int
	}{
		{"bytes.Reader (WriterTo)", bytes.NewReader(payload), len(payload)},
		{"plain Reader", readerOnly{bytes.NewReader(payload)}, len(payload)},
		{"LimitedReader", io.LimitReader(bytes.NewReader(payload), 1234), 1234},
		{"net.TCPConn", stdSrc, len(payload)},
	}
	for _, rd := range readers {
		var n int64
		var err error
		done := e.spawn(func() { n, err = sc.ReadFrom(rd.r) })
		got := make([]byte, rd.n)
		cc.SetReadDeadline(time.Now().Add(30 * time.Second))
		_, rerr := io.ReadFull(cc, got)
		wait(t, done, rd.name)
		if n != int64(rd.n) || err != nil || rerr != nil || !bytes.Equal(got, payload[:rd.n]) {
			t.Errorf("ReadFrom(%s): %d, %v; peer read %v, match %v", rd.name, n, err, rerr, bytes.Equal(got, payload[:rd.n]))
		}
	}
	// A reader that fails.
	var n int64
	var err error
	done := e.spawn(func() { n, err = sc.ReadFrom(&failingReader{n: 5000}) })
	wait(t, done, "ReadFrom(failing reader)")
	checkOpError(t, err, "readfrom", errBoom)
	if n != 5000 {
		t.Errorf("ReadFrom(failing reader): %d bytes, want 5000", n)
	}

	// WriteTo: a plain Writer, a ReaderFrom (bytes.Buffer), a failing Writer.
	for _, w := range []string{"plain Writer", "bytes.Buffer"} {
		sc, cc := pair(t, e)
		go func() {
			cc.Write(payload)
			closeWrite(cc)
		}()
		var buf bytes.Buffer
		done := e.spawn(func() {
			if w == "plain Writer" {
				n, err = sc.WriteTo(writerOnly{&buf})
			} else {
				n, err = sc.WriteTo(&buf)
			}
		})
		wait(t, done, "WriteTo("+w+")")
		if n != int64(len(payload)) || err != nil || !bytes.Equal(buf.Bytes(), payload) {
			t.Errorf("WriteTo(%s): %d, %v, match %v", w, n, err, bytes.Equal(buf.Bytes(), payload))
		}
	}
	sc3, cc3 := pair(t, e)
	cc3.Write(payload[:10])
	done = e.spawn(func() { n, err = sc3.WriteTo(failingWriter{}) })
	wait(t, done, "WriteTo(failing Writer)")
	checkOpError(t, err, "writeto", errBoom)
}
