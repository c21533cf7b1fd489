//go:build linux || darwin

package model

import (
	"math/rand/v2"
	"os"
	"sort"
	"syscall"
	"testing"
	"time"
)

// fillCache gives sequence 0 of c depth positions of random keys and values, as if a
// prompt of that length had been prefilled (the content does not change the work of a
// decode step).
func fillCache(c *Cache, depth int, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	s := c.seq(0)
	c.reserve(s, depth)
	for l := 0; l < c.cfg.Layers; l++ {
		w := c.cfg.KVDim(l)
		k, v := make([]float32, w), make([]float32, w)
		for p := 0; p < depth; p++ {
			for i := range k {
				k[i], v[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
			}
			c.put(s, l, p, k, v)
		}
	}
	s.n = depth
}

// BenchmarkDecodeAtDepth measures decode steps (tg) of one sequence at a context depth
// with each cache type, alternating the types round by round (b.N rounds, at least 9), and
// reports each type's median tokens/s and CPU ms per token; the log line adds the bytes
// per token and the cache's size. It runs on the model file named by
// $DECILM_KV_BENCH_MODEL at depth 4096 (a measurement: without the variable there is
// nothing to measure).
//
//	DECILM_KV_BENCH_MODEL=1b-q4_0.gguf go test ./model/ -run '^$' -bench DecodeAtDepth -benchtime 9x
func BenchmarkDecodeAtDepth(bm *testing.B) {
	path, depth, steps := os.Getenv("DECILM_KV_BENCH_MODEL"), 4096, 4
	if path == "" {
		bm.Skip("set DECILM_KV_BENCH_MODEL to a model file to measure")
	}
	rounds := bm.N
	m, err := Load(path, Options{})
	if err != nil {
		bm.Fatal(err)
	}
	defer m.Close()
	types := []CacheType{CacheF32, CacheF16}
	if CacheQ8_0.Check(m.Config) == nil {
		types = append(types, CacheQ8_0)
	}
	caches := map[CacheType]*Cache{}
	for _, typ := range types {
		c, err := NewTypedCache(m.Config, depth+steps+1, typ)
		if err != nil {
			bm.Fatal(err)
		}
		fillCache(c, depth, 7)
		caches[typ] = c
	}
	times, cpu := map[CacheType][]float64{}, map[CacheType][]float64{}
	var b Batch
	bm.ResetTimer()
	for r := 0; r < rounds; r++ {
		for _, typ := range types {
			c := caches[typ]
			c.Truncate(0, depth)
			start, cpu0 := time.Now(), cpuTime()
			for i := 0; i < steps; i++ {
				b.Reset()
				b.Add(0, depth+i, 1+i, true)
				if _, err := m.Forward(&b, c); err != nil {
					bm.Fatal(err)
				}
			}
			times[typ] = append(times[typ], float64(steps)/time.Since(start).Seconds())
			cpu[typ] = append(cpu[typ], (cpuTime()-cpu0).Seconds()*1000/float64(steps))
		}
	}
	bm.StopTimer()
	for _, typ := range types {
		ts, cs := times[typ], cpu[typ]
		sort.Float64s(ts)
		sort.Float64s(cs)
		bm.ReportMetric(ts[len(ts)/2], typ.String()+"-tok/s")
		bm.ReportMetric(cs[len(cs)/2], typ.String()+"-cpu-ms/tok")
		bm.Logf("%s: %d B/token, cache at depth %d: %.1f MiB; tg at depth %d: median %.2f t/s (min %.2f, max %.2f), CPU time median %.0f ms/token (min %.0f), %d rounds of %d steps",
			typ, KVBytesPerToken(m.Config, typ), depth, float64(caches[typ].Bytes())/(1<<20), depth, ts[len(ts)/2], ts[0], ts[len(ts)-1], cs[len(cs)/2], cs[0], rounds, steps)
	}
}

// cpuTime is the CPU time (user and system) the process has used: under a shared,
// overloaded machine it varies less than the wall time of a step.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
