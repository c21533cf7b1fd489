//go:build !linux

package mmap

func release([]byte)    {}
func adviseHuge([]byte) {}
