//go:build race

package slice

// raceEnabled: the race detector keeps a shadow call stack per goroutine that
// coroutine switches would unbalance, so -race builds use the fallback.
const raceEnabled = true
