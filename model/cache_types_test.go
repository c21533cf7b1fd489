package model_test

import (
	"math"
	"sort"
	"strings"
	"testing"

	"github.com/decilm/decilm/internal/testutil/testmodel"
	"github.com/decilm/decilm/model"
	"github.com/decilm/decilm/synth"
)

// typedRun is a greedy generation through a cache of one type: the tokens chosen and,
// when it followed another run's tokens (teacher forcing), the logits of each step.
type typedRun struct {
	tokens []int
	logits [][]float32
}

// greedyTyped prefills prompt into a new cache of type typ and decodes n tokens one at a
// time, choosing the argmax, or the tokens of follow when it is not nil.
func greedyTyped(t *testing.T, m *model.Model, typ model.CacheType, prompt []int, n int, follow []int) typedRun {
	t.Helper()
	c, err := model.NewTypedCache(m.Config, len(prompt)+n, typ)
	if err != nil {
		t.Fatal(err)
	}
	V := m.Config.Vocab
	var b model.Batch
	for p, tok := range prompt {
		b.Add(0, p, tok, p == len(prompt)-1)
	}
	out, err := m.Forward(&b, c)
	if err != nil {
		t.Fatal(err)
	}
	var r typedRun
	for step := 0; step < n; step++ {
		r.logits = append(r.logits, append([]float32(nil), out[:V]...))
		next := argmax(out[:V])
		if follow != nil {
			next = follow[step]
		}
		r.tokens = append(r.tokens, next)
		if step == n-1 {
			break
		}
		b.Reset()
		b.Add(0, len(prompt)+step, next, true)
		if out, err = m.Forward(&b, c); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// top2Gap is the difference between the largest and the second largest logit.
func top2Gap(x []float32) float64 {
	s := append([]float32(nil), x...)
	sort.Slice(s, func(i, j int) bool { return s[i] > s[j] })
	return float64(s[0] - s[1])
}

// compareCacheTypes generates n greedy tokens with a float32 cache and, for each other
// type, follows them (teacher forcing): it reports the largest logit difference and
// every step where the argmax differs with the float32 run's top-2 gap there, failing
// when logits differ by more than tol or an argmax differs where the gap exceeds
// maxGap. It returns whether the free-running greedy tokens are equal for each type.
func compareCacheTypes(t *testing.T, m *model.Model, prompt []int, n int, types []model.CacheType, tol, maxGap float64) map[model.CacheType]bool {
	t.Helper()
	ref := greedyTyped(t, m, model.CacheF32, prompt, n, nil)
	equal := map[model.CacheType]bool{}
	for _, typ := range types {
		forced := greedyTyped(t, m, typ, prompt, n, ref.tokens)
		var worst float64
		for step := range ref.logits {
			for i, v := range ref.logits[step] {
				worst = math.Max(worst, math.Abs(float64(forced.logits[step][i]-v)))
			}
			if a, b := argmax(ref.logits[step]), argmax(forced.logits[step]); a != b {
				gap := top2Gap(ref.logits[step])
				t.Logf("%s: step %d argmax %d, f32 %d (f32 top-2 gap %.3g)", typ, step, b, a, gap)
				if gap > maxGap {
					t.Errorf("%s: step %d chose %d where f32 chose %d by a gap of %.3g (allowed %.3g)", typ, step, b, a, gap, maxGap)
				}
			}
		}
		free := greedyTyped(t, m, typ, prompt, n, nil)
		same := true
		for i := range free.tokens {
			if free.tokens[i] != ref.tokens[i] {
				same = false
				t.Logf("%s: free-running greedy differs from f32 first at step %d (%d vs %d; f32 top-2 gap there %.3g)",
					typ, i, free.tokens[i], ref.tokens[i], top2Gap(ref.logits[i]))
				break
			}
		}
		equal[typ] = same
		t.Logf("%s: largest |Δlogit| vs f32 over %d steps %.3g; greedy equal: %v", typ, n, worst, same)
		if worst > tol {
			t.Errorf("%s: logits differ from the f32 cache's by %.3g (allowed %.3g)", typ, worst, tol)
		}
	}
	return equal
}

// TestCacheTypesStories: on the embedded stories260K model (head dimension 8, so no
// q8_0), an f16 cache gives the same 200 greedy tokens as a float32 one.
func TestCacheTypesStories(t *testing.T) {
	m, err := model.Load(testmodel.Stories(t), model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := model.NewTypedCache(m.Config, 0, model.CacheQ8_0); err == nil {
		t.Fatal("a q8_0 cache accepted head dimension 8")
	}
	eq := compareCacheTypes(t, m, []int{1, 365, 274, 260, 471}, 200, []model.CacheType{model.CacheF16}, 0.05, 0)
	if !eq[model.CacheF16] {
		t.Error("f16 greedy tokens differ from f32's")
	}
}

// TestCacheTypesSynth: on a synth model with head dimension 32 and variable GQA, f16 and
// q8_0 caches follow the float32 one within tolerance, and differ in argmax only at
// near-ties.
func TestCacheTypesSynth(t *testing.T) {
	p := synth.Presets["tiny"]
	p.Name, p.Heads = "tiny-hd32", 4
	p.KVHeads = []int{4, 2, 1, 1}
	dir := t.TempDir()
	if err := p.Write(dir, 77, "", nil); err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(dir, model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Config.HeadDim != 32 {
		t.Fatalf("head dimension %d, want 32", m.Config.HeadDim)
	}
	compareCacheTypes(t, m, []int{1, 450, 4996, 17354, 1701, 29916}, 48,
		[]model.CacheType{model.CacheF16, model.CacheQ8_0}, 0.1, 0.05)
}

// TestCacheBytes: each type's memory per token on DeciLM-6B's and DeciLM-7B's shapes
// (25,600 and 34,304 bytes at f16, as their model cards say), and the memory a sequence
// holds after Reserve and a forward pass.
func TestCacheBytes(t *testing.T) {
	for _, tc := range []struct {
		preset        string
		f32, f16, q80 int64
	}{
		// Σ KV heads × 128 × 2 (keys, values) × bytes: 50 heads for 6B, 67 for 7B;
		// q8_0 stores 128 values in 4 blocks of 34 bytes.
		{"decilm-6b", 51200, 25600, 50 * 2 * 4 * 34},
		{"decilm-7b", 68608, 34304, 67 * 2 * 4 * 34},
	} {
		cfg, err := model.ParseConfig(tc.preset, synth.Presets[tc.preset].ConfigJSON())
		if err != nil {
			t.Fatal(err)
		}
		for typ, want := range map[model.CacheType]int64{model.CacheF32: tc.f32, model.CacheF16: tc.f16, model.CacheQ8_0: tc.q80} {
			if got := model.KVBytesPerToken(cfg, typ); got != want {
				t.Errorf("%s %s: %d bytes per token, want %d", tc.preset, typ, got, want)
			}
		}
	}
	m, err := model.Load(testmodel.Stories(t), model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, typ := range []model.CacheType{model.CacheF32, model.CacheF16} {
		c, err := model.NewTypedCache(m.Config, 32, typ)
		if err != nil {
			t.Fatal(err)
		}
		c.Reserve(3, 20)
		if got, want := c.SeqBytes(3), 20*c.BytesPerToken(); got != want {
			t.Errorf("%s: Reserve(20) holds %d bytes, want %d", typ, got, want)
		}
		var b model.Batch
		for p := 0; p < 20; p++ {
			b.Add(3, p, 1+p, false)
		}
		if _, err := m.Forward(&b, c); err != nil {
			t.Fatal(err)
		}
		if got, want := c.Bytes(), 20*c.BytesPerToken(); got != want {
			t.Errorf("%s: after 20 positions the cache holds %d bytes, want %d", typ, got, want)
		}
	}
}

func TestParseCacheType(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want model.CacheType
		err  bool
	}{
		{"f16", model.CacheF16, false}, {"F32", model.CacheF32, false}, {"q8_0", model.CacheQ8_0, false},
		{"q4_0", 0, true}, {"", 0, true}, {"bf16", 0, true},
	} {
		got, err := model.ParseCacheType(tc.in)
		if (err != nil) != tc.err || (!tc.err && got != tc.want) {
			t.Errorf("ParseCacheType(%q) = %v, %v", tc.in, got, err)
		}
		if !tc.err && got.String() != strings.ToLower(tc.in) {
			t.Errorf("%v.String() = %q", got, got.String())
		}
	}
}

// FuzzParseCacheType: any string is either refused with an error or names a type whose
// String reads back as the same type.
func FuzzParseCacheType(f *testing.F) {
	for _, s := range []string{"f16", "f32", "q8_0", "Q8_0", "", "q4_0", "f16\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		typ, err := model.ParseCacheType(s)
		if err != nil {
			return
		}
		back, err := model.ParseCacheType(typ.String())
		if err != nil || back != typ || !strings.EqualFold(s, typ.String()) {
			t.Fatalf("%q: %v, read back %v %v", s, typ, back, err)
		}
	})
}
