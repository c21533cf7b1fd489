package decilm

import (
	"reflect"
	"testing"
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
		got := lookup(tc.hist, tc.k)
		if len(got) == 0 && len(tc.want) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("lookup(%v, %d) = %v, want %v", tc.hist, tc.k, got, tc.want)
		}
	}
}

func TestDraftLen(t *testing.T) {
	d := newDraftLen(8)
	var got []int
	step := func(acc func(k int) int) {
		k := d.next()
		got = append(got, k)
		if k > 0 {
			d.update(k, acc(k))
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
	if d1 := newDraftLen(1); d1.next() != 1 {
		t.Fatal("a maximum of 1 must draft 1")
	}
}
