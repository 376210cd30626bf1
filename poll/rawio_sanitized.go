//go:build race || msan || asan

package poll

// sanitized: the race detector, msan or asan is on. unix.Read and
// unix.Write tell them what the kernel reads and writes in the buffer;
// the raw calls of rawio_linux.go would not, so reads and writes keep to
// unix's calls in such builds.
const sanitized = true
