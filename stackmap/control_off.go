//go:build !negcontrol

package stackmap

// Negative controls: switches that break a mechanism on purpose, so that a
// test can show it fails without it. They exist only in builds with the
// negcontrol tag (go test -tags negcontrol); in every other build they are
// constants the compiler removes, so nothing that imports the package can
// flip them.

// skipReloc makes scans leave every region pointer in live slots and stack
// objects unrelocated (saved frame pointers excepted: the unwinder would
// crash at once), so a resumed coroutine's pointers into its own frames
// point at the old addresses.
const skipReloc = false

// dropShadow makes scans drop every heap pointer instead of putting it in
// the pointer shadow, so the GC may free what a suspended coroutine holds.
const dropShadow = false

// skipUndo makes Quick, when it gives up part way, leave the words it
// already turned into offsets (saved frame pointers, relocations) as they
// are, so the general scan that follows meets a corrupted region.
const skipUndo = false
