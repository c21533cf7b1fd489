//go:build !linux

package kernel

func affinityCPUs() int { return 0 }

func cgroupCPUs() int { return 0 }
