//go:build !(linux || darwin)

package hub

// freeSpace cannot tell the free space on this system.
func freeSpace(dir string) int64 { return -1 }
