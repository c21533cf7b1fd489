//go:build !purego

package kernel

import "golang.org/x/sys/cpu"

// The KV-cache kernels of kv_amd64.s need AVX2, FMA and F16C, as those of kernel_amd64.s.
func init() {
	if !(cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasF16C) {
		return
	}
	dotRowsF16Vec = dotRowsF16AVX
	axpyRowsF16Vec = axpyRowsF16AVX
	dotRowsQ8Vec = dotRowsQ8AVX
	axpyRowsQ8Vec = axpyRowsQ8AVX
}
