package draft

import (
	"reflect"
	"testing"

	"github.com/decilm/decilm/model"
	"github.com/decilm/decilm/sample"
)

func TestLookup(t *testing.T) {
	tests := []struct {
		hist []int
		k    int
		want []int
	}{
		{[]int{1}, 4, nil},
		{[]int{1, 2, 3}, 4, nil},
		{[]int{5, 6, 7, 8, 5, 6, 7}, 4, []int{8, 5, 6, 7}},                // 3-gram 5 6 7
		{[]int{5, 6, 7, 8, 9, 5, 6, 7}, 2, []int{8, 9}},                   // k bounds it
		{[]int{1, 2, 9, 2, 3, 4, 1, 2}, 3, []int{9, 2, 3}},                // 2-gram 1 2
		{[]int{4, 2, 8, 8, 7, 3, 2}, 5, nil},                              // a single token is no match
		{[]int{9, 8, 7, 6, 8, 7}, 3, []int{6, 8, 7}},                      // 2-gram 8 7, to the end
		{[]int{1, 2, 3, 1, 2, 4, 1, 2}, 2, []int{4, 1}},                   // the latest match wins
		{[]int{1, 2, 3, 9, 2, 3, 7, 1, 2, 3}, 2, []int{9, 2}},             // a longer match beats a later shorter one
		{[]int{7, 7, 7}, 3, []int{7}},                                     // overlapping: the 2-gram at 0 is followed by one 7
		{[]int{3, 1, 4, 1, 5, 9, 2, 6}, 4, nil},                           // 6 never occurred before
		{[]int{0, 1, 0, 1, 0, 1}, 8, []int{0, 1}},                         // run off the end
		{[]int{10, 11, 12, 13, 10, 11, 12, 13, 10, 11, 12}, 1, []int{13}}, // k = 1
		{[]int{10, 11, 12, 13, 10, 11, 12, 13, 10, 11, 12}, 0, []int{}},   // k = 0
	}
	for _, tc := range tests {
		got := Lookup(tc.hist, tc.k)
		if len(got) == 0 && len(tc.want) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Lookup(%v, %d) = %v, want %v", tc.hist, tc.k, got, tc.want)
		}
	}
}

func TestLength(t *testing.T) {
	d := NewLength(8)
	var got []int
	step := func(acc func(k int) int) {
		k := d.Next()
		got = append(got, k)
		if k > 0 {
			d.Update(k, acc(k))
		}
	}
	all := func(k int) int { return k }
	none := func(int) int { return 0 }
	for range 4 {
		step(all) // 4, 6, 8, 8
	}
	step(func(int) int { return 2 }) // 8, then 3
	for range 4 {
		step(none) // 3, 1, 1, 1: the fourth miss pauses
	}
	for range 17 {
		step(none) // 16 plain steps, then a probe of 1
	}
	want := []int{4, 6, 8, 8, 8, 3, 1, 1, 1}
	for range 16 {
		want = append(want, 0)
	}
	want = append(want, 1)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("draft lengths %v\nwant %v", got, want)
	}
	if d1 := NewLength(1); d1.Next() != 1 {
		t.Fatal("a maximum of 1 must draft 1")
	}
}

// TestVerifyGreedy: in greedy mode the verifier keeps the drafts up to the first that is
// not its row's argmax and ends with that row's argmax.
func TestVerifyGreedy(t *testing.T) {
	const V = 5
	s, err := sample.New(sample.Options{})
	if err != nil {
		t.Fatal(err)
	}
	row := func(best int) []float32 {
		r := make([]float32, V)
		r[best] = 1
		return r
	}
	var rows []float32
	for _, b := range []int{2, 3, 4, 1} {
		rows = append(rows, row(b)...)
	}
	tests := []struct {
		drafts []int
		want   []int
		acc    int
	}{
		{nil, []int{2}, 0},
		{[]int{2, 3, 4}, []int{2, 3, 4, 1}, 3},
		{[]int{2, 0, 4}, []int{2, 3}, 1},
		{[]int{1, 3, 4}, []int{2}, 0},
	}
	var v Verifier
	for _, tc := range tests {
		toks, acc, err := v.Verify(s, rows[:(len(tc.drafts)+1)*V], V, []int{1}, tc.drafts, make([]*sample.Dist, len(tc.drafts)))
		if err != nil {
			t.Fatal(err)
		}
		if acc != tc.acc || !reflect.DeepEqual(toks, tc.want) {
			t.Errorf("drafts %v: %v (%d accepted), want %v (%d)", tc.drafts, toks, acc, tc.want, tc.acc)
		}
	}
	if _, _, err := v.Verify(s, rows[:V], V, []int{1}, []int{2}, []*sample.Dist{nil}); err == nil {
		t.Error("too few rows: no error")
	}
}

func TestRoom(t *testing.T) {
	plain := &model.Config{MaxPositions: 100}
	dyn := &model.Config{MaxPositions: 100}
	dyn.RopeScaling.Type = "dynamic"
	tests := []struct {
		cfg           *model.Config
		hist, left, k int
	}{
		{plain, 10, 5, 4},
		{plain, 10, 1, 0},
		{plain, 10, 0, 0},
		{dyn, 10, 50, 49},
		{dyn, 97, 50, 3},
		{dyn, 100, 50, 0},
		{dyn, 120, 50, 0},
	}
	for _, tc := range tests {
		if k := Room(tc.cfg, tc.hist, tc.left); k != tc.k {
			t.Errorf("Room(%s, %d, %d) = %d, want %d", tc.cfg.RopeScaling.Type, tc.hist, tc.left, k, tc.k)
		}
	}
}

func TestConfigCheck(t *testing.T) {
	for _, c := range []Config{{NGram: true, Max: -1}, {NGram: true, Max: MaxMax + 1}, {}} {
		if _, err := c.Check(); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
	c, err := Config{NGram: true}.Check()
	if err != nil || c.Max != DefaultMax {
		t.Errorf("defaults: %+v, %v", c, err)
	}
}
