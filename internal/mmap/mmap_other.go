//go:build !unix

package mmap

import (
	"io"
	"os"
)

// mapped says that mapFile maps the file rather than reading it.
const mapped = false

// mapFile falls back to reading the file where mmap is not available.
func mapFile(f *os.File, size int) ([]byte, func() error, error) {
	data := make([]byte, size)
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, nil, err
	}
	return data, func() error { return nil }, nil
}
