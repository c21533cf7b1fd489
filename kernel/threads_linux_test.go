package kernel

import "testing"

func TestCgroupQuota(t *testing.T) {
	files := map[string]string{
		// cgroup v2: a limit of 1.5 CPUs on the parent, 4 on the process's own group.
		"/sys/fs/cgroup/cpu.max":            "max 100000\n",
		"/sys/fs/cgroup/app/cpu.max":        "150000 100000\n",
		"/sys/fs/cgroup/app/worker/cpu.max": "400000 100000\n",
		"/sys/fs/cgroup/other/cpu.max":      "100000 100000\n",
		// cgroup v1, combined cpu,cpuacct directory.
		"/sys/fs/cgroup/cpu,cpuacct/job/cpu.cfs_quota_us":  "300000\n",
		"/sys/fs/cgroup/cpu,cpuacct/job/cpu.cfs_period_us": "100000\n",
		"/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us":      "-1\n",
		"/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us":     "100000\n",
		// cgroup v1, separate cpu directory, no limit.
		"/sys/fs/cgroup/cpu/cpu.cfs_quota_us":  "-1\n",
		"/sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000\n",
	}
	read := func(name string) (string, bool) {
		s, ok := files[name]
		return s, ok
	}
	tests := []struct {
		name, self string
		want       int
	}{
		{"v2 nested", "0::/app/worker\n", 2},
		{"v2 root", "0::/\n", 0},
		{"v2 sibling", "0::/other\n", 1},
		{"v1 combined", "4:memory:/x\n2:cpu,cpuacct:/job\n", 3},
		{"v1 unlimited", "1:cpu:/\n0::/\n", 0},
		{"garbage", "not a cgroup line\n::\n", 0},
		{"empty", "", 0},
	}
	for _, tc := range tests {
		if got := cgroupQuota("/sys/fs/cgroup", tc.self, read); got != tc.want {
			t.Errorf("%s: %d CPUs, want %d", tc.name, got, tc.want)
		}
	}
}

// FuzzCgroupQuota feeds arbitrary /proc/self/cgroup text (with cpu.max files answering
// every path) to the quota search.
func FuzzCgroupQuota(f *testing.F) {
	f.Add("0::/a/b\n", "150000 100000")
	f.Add("2:cpu,cpuacct:/job\n", "max 100000")
	f.Add("::\n:::\n0::/../..\n", "1 1")
	f.Fuzz(func(t *testing.T, self, cpuMax string) {
		calls := 0
		read := func(name string) (string, bool) {
			calls++
			if calls > 1e5 {
				t.Fatalf("%d reads for %q", calls, self)
			}
			return cpuMax, true
		}
		if n := cgroupQuota("/sys/fs/cgroup", self, read); n < 0 || n > 1<<20 {
			t.Errorf("cgroupQuota(%q) = %d", self, n)
		}
	})
}
