package train

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/decilm/decilm/kernel"
	"github.com/decilm/decilm/model"
	"github.com/decilm/decilm/synth"
	"github.com/decilm/decilm/tensor"
)

// The benchmarks train on a synth preset (DECILM_TRAIN_PRESET, default 1b; with
// DECILM_TRAIN_LAYERS its first layers only), written once into the system's temporary
// directory and reused, with its matrices in each base type. A step is DECILM_TRAIN_SEQS
// sequences (default 2) of DECILM_TRAIN_LEN tokens (default 128), every position counted,
// LoRA r 16 on all seven projections. Each reports tokens/s, tokens per CPU-second, the
// resident memory before it (model-MiB: the weights, mostly) and the peak during it
// (peak-MiB), e.g.
//
//	go test ./train/ -run X -bench 'Train/q4_0' -benchtime 2x

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// benchPreset returns the preset the benchmarks use and its directory, writing it once.
func benchPreset(b *testing.B) (synth.Preset, string) {
	name := os.Getenv("DECILM_TRAIN_PRESET")
	if name == "" {
		name = "1b"
	}
	p, ok := synth.Presets[name]
	if !ok {
		b.Fatalf("DECILM_TRAIN_PRESET %q: no such synth preset (have %v)", name, synth.PresetNames())
	}
	p = p.FirstLayers(envInt("DECILM_TRAIN_LAYERS", 0))
	dir := filepath.Join(os.TempDir(), "decilm-train-bench-"+p.Name)
	if _, err := os.Stat(filepath.Join(dir, "model.safetensors")); err != nil {
		b.Logf("writing %s to %s", p.Name, dir)
		if err := p.Write(dir, 1, "", nil); err != nil {
			b.Fatal(err)
		}
	}
	return p, dir
}

// cpuSeconds returns the CPU time the process has used (user and system): on a machine
// shared with other work, tokens per CPU-second vary less than tokens per second.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// peakRSS returns the process's peak resident memory in MiB (VmHWM), or 0.
func peakRSS() float64 { return procStatus("VmHWM") }

// resetPeak makes the peak resident memory the current one (Linux: clear_refs 5), so that
// a benchmark's peak excludes what loading and converting the model needed for a while, and
// returns the current resident memory in MiB (mostly the model's weights).
func resetPeak() float64 {
	runtime.GC()
	debug.FreeOSMemory()
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	return procStatus("VmRSS")
}

// procStatus returns a kB field of /proc/self/status in MiB, or 0.
func procStatus(field string) float64 {
	f, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(f))
	for sc.Scan() {
		var kb float64
		if n, _ := fmt.Sscanf(sc.Text(), field+": %f kB", &kb); n == 1 {
			return kb / 1024
		}
	}
	return 0
}

func BenchmarkTrain(b *testing.B) {
	seqs, length := envInt("DECILM_TRAIN_SEQS", 2), envInt("DECILM_TRAIN_LEN", 128)
	for _, dt := range []tensor.DType{tensor.F32, tensor.BF16, tensor.Q4_0} {
		b.Run(dt.String(), func(b *testing.B) {
			p, dir := benchPreset(b)
			m := loadDir(b, dir, dt)
			defer m.Close()
			batch := randomBatch(rand.New(rand.NewPCG(1, 1)), p.Vocab, repeatInt(length, seqs)...)
			for i := range batch {
				for j := range batch[i].Loss {
					batch[i].Loss[j] = true
				}
			}
			tokens := float64(seqs * length)
			n, err := New(m, LoRAConfig{R: 16, Alpha: 32, Targets: allTargets[:7]}, 1)
			if err != nil {
				b.Fatal(err)
			}
			warm := false
			run := func(name string, f func() error) {
				b.Run(name, func(b *testing.B) {
					if !warm { // page the weights in first
						if err := f(); err != nil {
							b.Fatal(err)
						}
						warm = true
					}
					rss := resetPeak()
					start, cpu0 := time.Now(), cpuSeconds()
					for i := 0; i < b.N; i++ {
						if err := f(); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(tokens*float64(b.N)/time.Since(start).Seconds(), "tokens/s")
					b.ReportMetric(tokens*float64(b.N)/(cpuSeconds()-cpu0), "tokens/cpu-s")
					b.ReportMetric(rss, "model-MiB")
					b.ReportMetric(peakRSS(), "peak-MiB")
				})
			}
			run("forward", func() error {
				for _, e := range batch {
					c := model.NewCache(m.Config, len(e.Tokens))
					var fb model.Batch
					for i, t := range e.Tokens {
						fb.Add(0, i, t, true)
					}
					if _, err := m.Forward(&fb, c); err != nil {
						return err
					}
				}
				return nil
			})
			run("loss", func() error { _, _, err := n.Loss(batch); return err })
			run("step", func() error { _, _, err := n.Step(batch, false); return err })
			run("step-checkpoint", func() error { _, _, err := n.Step(batch, true); return err })
		})
	}
}

func repeatInt(v, n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = v
	}
	return s
}

// BenchmarkBackward times the frozen backward product dx += dy·W against the forward
// y = x·Wᵀ for a BF16 and a Q4_0 matrix of the 1b preset's FFN shape and 256 rows.
func BenchmarkBackward(b *testing.B) {
	const m, n, k = 256, 5632, 2048
	pool := kernel.NewPool(0)
	defer pool.Close()
	rng := rand.New(rand.NewPCG(1, 1))
	x, dy := make([]float32, m*k), make([]float32, m*n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	for i := range dy {
		dy[i] = float32(rng.NormFloat64())
	}
	for _, dt := range []tensor.DType{tensor.BF16, tensor.Q4_0} {
		rs, _ := dt.RowBytes(k)
		w := &tensor.Tensor{Name: "w", DType: dt, Shape: []int{n, k}, Data: make([]byte, n*rs)}
		for i := 0; i < n; i++ {
			tensor.EncodeRow(w.Data[i*rs:(i+1)*rs], x[(i%m)*k:(i%m+1)*k], dt)
		}
		l := linear{pool: pool}
		y, dx := make([]float32, m*n), make([]float32, m*k)
		b.Run(dt.String()+"/forward", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				l.forward(y, x, m, w)
			}
		})
		b.Run(dt.String()+"/backward", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				l.backward(dx, dy, m, w)
			}
		})
	}
}
