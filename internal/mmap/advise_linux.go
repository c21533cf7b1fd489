package mmap

import (
	"bytes"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// hugePages reads the transparent huge page mode once: "[always]" or "[madvise]" selected.
var hugePages = sync.OnceValue(func() bool {
	b, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	return err == nil && (bytes.Contains(b, []byte("[always]")) || bytes.Contains(b, []byte("[madvise]")))
})

// release drops the whole pages inside b from the resident set (MADV_DONTNEED; a
// read-only file mapping reads them again on the next touch).
func release(b []byte) {
	if in := inner(b, uintptr(unix.Getpagesize())); len(in) > 0 {
		_ = unix.Madvise(in, unix.MADV_DONTNEED)
	}
}

// adviseHuge marks the 2 MiB-aligned inside of b for transparent huge pages.
func adviseHuge(b []byte) {
	if in := inner(b, 2<<20); len(in) > 0 {
		_ = unix.Madvise(in, unix.MADV_HUGEPAGE)
	}
}

// inner returns the largest part of b that starts and ends on a multiple of align.
func inner(b []byte, align uintptr) []byte {
	a := addr(b)
	lo := (a + align - 1) &^ (align - 1)
	hi := (a + uintptr(len(b))) &^ (align - 1)
	if hi <= lo {
		return nil
	}
	return b[lo-a : hi-a]
}
