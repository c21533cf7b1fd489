package kernel

import (
	"strconv"
	"strings"
)

// parseCPUMax reads a cgroup CPU limit, "QUOTA PERIOD" in microseconds as cgroup v2's
// cpu.max holds it ("max 100000" when unlimited; cgroup v1 writes -1), and returns the
// quota in whole CPUs rounded up, or 0 for no limit or text it does not understand.
func parseCPUMax(s string) int {
	f := strings.Fields(s)
	if len(f) != 2 || f[0] == "max" {
		return 0
	}
	q, err1 := strconv.ParseInt(f[0], 10, 64)
	p, err2 := strconv.ParseInt(f[1], 10, 64)
	if err1 != nil || err2 != nil || q <= 0 || p <= 0 {
		return 0
	}
	n := (q + p - 1) / p
	if n > 1<<20 {
		return 0
	}
	return int(n)
}
