package sched

// parkPad fills the word of Park's frame that arm64's layout leaves
// unused (see Park). On arm64 that frame holds the saved link register,
// three outgoing argument words and, 16-byte aligned, one word more:
// nothing writes that word, so it kept whatever an earlier call left at
// that address, which differs between connections, and idle tasks parked
// at one place no longer matched their template. A zeroed local there
// makes the word the same in every parked task at no cost in size.
type parkPad [1]uintptr
