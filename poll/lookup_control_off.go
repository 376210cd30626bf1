//go:build !negcontrol

package poll

// brokenLookupOnCarrier makes lookup call the resolver on the calling
// task's carrier instead of through sched.Await, the blocking it avoids.
// A negative control (see control_off.go): a constant false here.
const brokenLookupOnCarrier = false
