// Package mmap maps files read-only into memory, so checkpoint readers can hand out tensor
// views over the file's bytes without copying them.
package mmap

import (
	"fmt"
	"os"
)

// File is a read-only memory mapping of a whole file.
type File struct {
	// Data is the file's contents. It stays valid until Close; it must not be written.
	Data  []byte
	name  string
	unmap func() error
}

// Open maps the named file. An empty file gives an empty Data.
func Open(name string) (*File, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s: is a directory", name)
	}
	size := st.Size()
	if size == 0 {
		return &File{Data: []byte{}, name: name}, nil
	}
	if int64(int(size)) != size {
		return nil, fmt.Errorf("%s: file too large to map (%d bytes)", name, size)
	}
	data, unmap, err := mapFile(f, int(size))
	if err != nil {
		return nil, fmt.Errorf("%s: mmap: %w", name, err)
	}
	return &File{Data: data, name: name, unmap: unmap}, nil
}

// Name returns the path the file was opened with.
func (f *File) Name() string { return f.name }

// Close unmaps the file. Data must not be used afterwards.
func (f *File) Close() error {
	if f == nil || f.unmap == nil {
		return nil
	}
	u := f.unmap
	f.unmap = nil
	f.Data = nil
	return u()
}
