//go:build !purego

package kernel

import "golang.org/x/sys/cpu"

// avxVNNI reports whether the CPU runs the AVX-VNNI kernels (internal/asmgenvnni: ymm
// kernels with VPDPBUSD in its VEX encoding): AVX2, FMA, F16C and AVX-VNNI, as on Intel
// Alder Lake and later client cores and on AMD Zen 5. They serve a type where no AVX-512
// VNNI kernel does. GODEBUG=cpu.avxvnni=off turns them off (with cpu.avx512f=off: an
// AVX2-only CPU without VNNI, Haswell to Comet Lake, Zen 1 to Zen 4 with AVX-512 off).
var avxVNNI = cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasF16C && cpu.X86.HasAVXVNNI
