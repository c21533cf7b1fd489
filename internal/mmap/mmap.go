// Package mmap maps files read-only into memory, so checkpoint readers can hand out tensor
// views over the file's bytes without copying them.
package mmap

import (
	"fmt"
	"os"
	"sync"
	"unsafe"
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
	mf := &File{Data: data, name: name, unmap: unmap}
	if mapped {
		live.Store(mf, span{addr(data), addr(data) + uintptr(len(data))})
	}
	return mf, nil
}

// span is the address range [lo, hi) of a live mapping.
type span struct{ lo, hi uintptr }

// live holds the spans of the files mapped (not read) and not yet closed, by *File.
var live sync.Map

func addr(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

// Release tells the operating system that the pages under b, a part of some open File's
// Data, are not needed for now: they leave the process's resident memory and are read
// from the file again if b is touched later (b stays valid). It does nothing for memory
// that is not such a mapping, and where the system has no such advice.
func Release(b []byte) {
	if len(b) == 0 {
		return
	}
	lo, hi := addr(b), addr(b)+uintptr(len(b))
	inside := false
	live.Range(func(_, v any) bool {
		s := v.(span)
		inside = lo >= s.lo && hi <= s.hi
		return !inside
	})
	if inside {
		release(b)
	}
}

// HugePages reports whether AdviseHuge can have an effect here: the system backs
// anonymous memory with transparent huge pages, always or where advised.
func HugePages() bool { return hugePages() }

// AdviseHuge asks the operating system to back b (anonymous memory the process owns, not
// touched yet) with huge pages where it can, which makes streaming through it cheaper in
// address translations. It does nothing where the system has no such advice.
func AdviseHuge(b []byte) { adviseHuge(b) }

// Name returns the path the file was opened with.
func (f *File) Name() string { return f.name }

// Close unmaps the file. Data must not be used afterwards.
func (f *File) Close() error {
	if f == nil || f.unmap == nil {
		return nil
	}
	u := f.unmap
	live.Delete(f)
	f.unmap = nil
	f.Data = nil
	return u()
}
