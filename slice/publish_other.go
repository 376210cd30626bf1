//go:build !amd64 || race || purego

package slice

// publishSuspended moves c from running to suspended, after every write
// Resume made to c, its block and its shadow (see publish_amd64.go).
func (c *Coroutine) publishSuspended() { c.state.Store(stateSuspended) }
