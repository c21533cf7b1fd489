//go:build unix

package mmap

import (
	"os"

	"golang.org/x/sys/unix"
)

// mapped says that mapFile maps the file rather than reading it.
const mapped = true

func mapFile(f *os.File, size int) ([]byte, func() error, error) {
	data, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, nil, err
	}
	return data, func() error { return unix.Munmap(data) }, nil
}
