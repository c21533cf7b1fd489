package kernel

import (
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// affinityCPUs returns the number of CPUs in this process's affinity mask, or 0.
func affinityCPUs() int {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return 0
	}
	return set.Count()
}

// cgroupCPUs returns the CPU quota of this process's cgroup, rounded up to whole CPUs, or
// 0 when there is none.
func cgroupCPUs() int {
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return 0
	}
	return cgroupQuota("/sys/fs/cgroup", string(self), func(name string) (string, bool) {
		b, err := os.ReadFile(name)
		return string(b), err == nil
	})
}

// cgroupQuota finds the smallest CPU quota (in whole CPUs, rounded up) on the path from
// the process's cgroup, as /proc/self/cgroup lists it, up to the root of the hierarchy
// mounted at root: cpu.max files for cgroup v2, cpu.cfs_quota_us and cpu.cfs_period_us
// for v1 (under root/cpu or a combined controller directory). It returns 0 when no level
// sets a limit. read returns a file's contents and whether it could be read.
func cgroupQuota(root, self string, read func(string) (string, bool)) int {
	best := 0
	take := func(n int) {
		if n > 0 && (best == 0 || n < best) {
			best = n
		}
	}
	for _, line := range strings.Split(self, "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 || !strings.HasPrefix(f[2], "/") {
			continue
		}
		var dirs []string
		switch {
		case f[0] == "0" && f[1] == "": // cgroup v2
			dirs = []string{root, path.Join(root, "unified")}
		case hasController(f[1], "cpu"):
			dirs = []string{path.Join(root, f[1]), path.Join(root, "cpu")}
		default:
			continue
		}
		for _, dir := range dirs {
			for p := path.Clean(f[2]); ; p = path.Dir(p) {
				d := path.Join(dir, p)
				if s, ok := read(path.Join(d, "cpu.max")); ok {
					take(parseCPUMax(s))
				} else if q, ok := read(path.Join(d, "cpu.cfs_quota_us")); ok {
					if per, ok := read(path.Join(d, "cpu.cfs_period_us")); ok {
						take(parseCPUMax(q + " " + per))
					}
				}
				if p == "/" {
					break
				}
			}
		}
	}
	return best
}

// hasController reports whether a comma-separated cgroup v1 controller list names c.
func hasController(list, c string) bool {
	for _, s := range strings.Split(list, ",") {
		if s == c {
			return true
		}
	}
	return false
}
