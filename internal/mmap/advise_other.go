//go:build !linux

package mmap

func release([]byte)    {}
func adviseHuge([]byte) {}
func hugePages() bool   { return false }
