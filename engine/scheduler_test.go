package engine

import (
	"github.com/decilm/decilm/model"
	"slices"
	"testing"
)

// fakeKV records what the scheduler does to the cache: each slot's length and reservation.
type fakeKV struct {
	n, res map[int]int
	freed  []int
}

func newFakeKV() *fakeKV { return &fakeKV{n: map[int]int{}, res: map[int]int{}} }

func (f *fakeKV) Len(slot int) int { return f.n[slot] }
func (f *fakeKV) Truncate(slot, n int) {
	if n < f.n[slot] {
		f.n[slot] = n
	}
}
func (f *fakeKV) Free(slot int) {
	delete(f.n, slot)
	delete(f.res, slot)
	f.freed = append(f.freed, slot)
}
func (f *fakeKV) Reserve(slot, n int) { f.res[slot] = max(f.res[slot], n) }

// TestSchedulerAdmission: a sequence is admitted while a slot is free and its
// reservation fits beside the admitted ones; releasing gives both back.
func TestSchedulerAdmission(t *testing.T) {
	for _, tc := range []struct {
		name    string
		slots   int
		budget  int64
		reserve []int64 // admitted in order while they fit
		want    int     // how many are admitted
	}{
		{"budget for two", 4, 100, []int64{40, 40, 40}, 2},
		{"slots for two", 2, 1000, []int64{10, 10, 10}, 2},
		{"exactly the budget", 3, 90, []int64{30, 30, 30}, 3},
		{"too large for the budget", 3, 90, []int64{91}, 0},
		{"head of the queue blocks", 3, 100, []int64{60, 50, 10}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kv := newFakeKV()
			s := newScheduler(tc.slots, tc.budget, 10, false, 0, kv)
			var slots []int
			for _, r := range tc.reserve {
				if !s.fits(r) {
					break
				}
				sl, cached := s.admit([]int{1, 2, 3}, nil, r, true)
				if cached != 0 {
					t.Fatalf("nothing cached yet, admit reused %d tokens", cached)
				}
				if kv.res[sl] != int(r/10) {
					t.Errorf("slot %d reserved %d positions, want %d", sl, kv.res[sl], r/10)
				}
				slots = append(slots, sl)
			}
			if len(slots) != tc.want {
				t.Fatalf("admitted %d, want %d", len(slots), tc.want)
			}
			if len(slots) != len(slices.Compact(slices.Sorted(slices.Values(slots)))) {
				t.Fatalf("slots %v: one given twice", slots)
			}
			for i, sl := range slots {
				s.release(sl, nil, nil, tc.reserve[i])
			}
			if s.reserved != 0 || len(s.free) != tc.slots {
				t.Errorf("after release: %d reserved, %d free slots, want 0 and %d", s.reserved, len(s.free), tc.slots)
			}
		})
	}
}

// TestSchedulerPromptCache: a released slot keeps its tokens; the next prompt sharing a
// prefix takes that slot and skips those tokens (never the prompt's last); prompt
// caching off, a history past maxReuse or a request that refuses reuse never reuse; and
// cached slots are dropped, largest first, when the budget needs their memory.
func TestSchedulerPromptCache(t *testing.T) {
	hist := []int{1, 5, 6, 7, 8, 9}
	for _, tc := range []struct {
		name     string
		noReuse  bool
		maxReuse int
		reuse    bool
		held     int   // positions the finished sequence's slot holds
		prompt   []int // the next request
		cached   int   // prompt tokens it finds in the cache
	}{
		{"shared prefix", false, 0, true, 5, []int{1, 5, 6, 2}, 3},
		{"whole prompt cached: the last is recomputed", false, 0, true, 5, []int{1, 5, 6}, 2},
		{"longer than cached", false, 0, true, 3, []int{1, 5, 6, 7, 8}, 3},
		{"no common prefix", false, 0, true, 5, []int{2, 5}, 0},
		{"prompt caching off", true, 0, true, 5, []int{1, 5, 6, 2}, 0},
		{"history past maxReuse", false, 4, true, 5, []int{1, 5, 6, 2}, 0},
		{"request refuses reuse", false, 0, false, 5, []int{1, 5, 6, 2}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kv := newFakeKV()
			s := newScheduler(2, 1000, 10, tc.noReuse, tc.maxReuse, kv)
			sl, _ := s.admit(hist, nil, 100, true)
			kv.n[sl] = tc.held
			s.release(sl, hist, nil, 100)
			got, cached := s.admit(tc.prompt, nil, 100, tc.reuse)
			if cached != tc.cached {
				t.Fatalf("reused %d tokens, want %d", cached, tc.cached)
			}
			if cached > 0 && (got != sl || kv.n[got] != cached) {
				t.Errorf("took slot %d holding %d, want slot %d cut to %d", got, kv.n[got], sl, cached)
			}
			if cached == 0 && kv.n[got] != 0 {
				t.Errorf("slot %d holds %d positions for a new prompt", got, kv.n[got])
			}
		})
	}

	// Eviction: three slots, two cached prompts of 300 and 200 bytes, budget 600. A new
	// sequence of 250 bytes needs 250 + 500 > 600: the 300-byte one goes, and the 200-byte
	// one stays.
	kv := newFakeKV()
	s := newScheduler(3, 600, 10, false, 0, kv)
	a, _ := s.admit([]int{1, 2}, nil, 300, true)
	b, _ := s.admit([]int{3, 4}, nil, 200, true)
	kv.n[a], kv.n[b] = 2, 2
	s.release(a, []int{1, 2}, nil, 300)
	s.release(b, []int{3, 4}, nil, 200)
	if !s.fits(250) {
		t.Fatal("250 bytes do not fit an empty budget of 600")
	}
	c, _ := s.admit([]int{9, 9}, nil, 250, true)
	if s.slotToks[a] != nil || s.slotToks[b] == nil || c == a || c == b {
		t.Errorf("slot %d taken; cached: %d %v, %d %v; want the 300-byte slot %d dropped and %d kept", c, a, s.slotToks[a], b, s.slotToks[b], a, b)
	}
	if got := s.cachedBytes(); got != 200 {
		t.Errorf("cached bytes %d, want 200", got)
	}
	// A prompt sharing the kept one's prefix still finds it.
	if _, cached := s.admit([]int{3, 4, 5}, nil, 100, true); cached != 2 {
		t.Errorf("kept prompt reused for %d tokens, want 2", cached)
	}
}

// TestSchedulerAdapterReuse: keys and values computed under one LoRA adapter are reused
// only by a prompt under the same adapter.
func TestSchedulerAdapterReuse(t *testing.T) {
	hist := []int{1, 5, 6, 7}
	adA, adB := &model.Adapter{}, &model.Adapter{}
	for _, tc := range []struct {
		name       string
		cachedWith *model.Adapter
		asking     *model.Adapter
		want       int
	}{
		{"same adapter", adA, adA, 4},
		{"other adapter", adA, adB, 0},
		{"adapter then none", adA, nil, 0},
		{"none then adapter", nil, adA, 0},
		{"none then none", nil, nil, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kv := newFakeKV()
			s := newScheduler(2, 1000, 10, false, 0, kv)
			sl, _ := s.admit(hist, tc.cachedWith, 100, true)
			kv.n[sl] = len(hist)
			s.release(sl, hist, tc.cachedWith, 100)
			if _, cached := s.admit([]int{1, 5, 6, 7, 9}, tc.asking, 100, true); cached != tc.want {
				t.Errorf("reused %d tokens, want %d", cached, tc.want)
			}
		})
	}
}

// TestPrefillRows: decode rows come first; prompts share what is left of the step in
// arrival order, with at least minPrefill rows.
func TestPrefillRows(t *testing.T) {
	for _, tc := range []struct {
		step, decode int
		remaining    []int
		want         []int
	}{
		{256, 0, []int{100, 100, 100}, []int{100, 100, 56}},
		{256, 250, []int{100, 5}, []int{16, 0}}, // busy decoding: still 16 prefill rows
		{256, 10, []int{3, 500}, []int{3, 243}},
		{16, 0, []int{10, 10}, []int{10, 6}},
		{256, 0, nil, []int{}},
	} {
		if got := prefillRows(tc.step, tc.decode, tc.remaining); !slices.Equal(got, tc.want) {
			t.Errorf("prefillRows(%d, %d, %v) = %v, want %v", tc.step, tc.decode, tc.remaining, got, tc.want)
		}
	}
}
