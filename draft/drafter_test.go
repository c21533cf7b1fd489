package draft_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/decilm/decilm/draft"
	"github.com/decilm/decilm/internal/testutil/testmodel"
	"github.com/decilm/decilm/model"
	"github.com/decilm/decilm/sample"
)

// TestDrafterBatched: drafting for several slots together gives each slot the tokens
// (and distributions) a drafter of its own gives it, greedy and sampled; a slot reused
// for another sequence, cut back with Truncate or emptied with Free drafts as a fresh one.
func TestDrafterBatched(t *testing.T) {
	m, err := model.Load(testmodel.Stories(t), model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	hists := [][]int{
		{1, 400, 261, 300, 270},
		{1, 400, 261, 300, 270, 280, 290}, // shares a prefix with the first
		{1, 33, 44},
		{1, 500},
	}
	for _, so := range []sample.Options{{}, {Temperature: 0.8, TopK: 20, Seed: 9}} {
		c := draft.Config{Model: m, Max: 6}
		alone := func(slotSeed int, hist []int, k int) ([]int, []float64) {
			d, err := draft.New(c, 1, 256)
			if err != nil {
				t.Fatal(err)
			}
			o := so
			o.Seed += uint64(slotSeed)
			if err := d.Reset(0, o); err != nil {
				t.Fatal(err)
			}
			rs := []draft.Request{{Slot: 0, Hist: hist, K: k}}
			if err := d.Draft(ctx, rs); err != nil {
				t.Fatal(err)
			}
			return append([]int(nil), rs[0].Tokens...), probs(rs[0])
		}
		d, err := draft.New(c, len(hists), 256)
		if err != nil {
			t.Fatal(err)
		}
		for round := range 3 {
			var rs []draft.Request
			for i, h := range hists {
				o := so
				o.Seed += uint64(i)
				if err := d.Reset(i, o); err != nil {
					t.Fatal(err)
				}
				rs = append(rs, draft.Request{Slot: i, Hist: h, K: 2 + i})
			}
			if err := d.Draft(ctx, rs); err != nil {
				t.Fatal(err)
			}
			for i, r := range rs {
				want, wp := alone(i, hists[i], 2+i)
				if !reflect.DeepEqual(r.Tokens, want) || !reflect.DeepEqual(probs(r), wp) {
					t.Errorf("temperature %g, round %d, slot %d: %v (p %v), alone %v (p %v)", so.Temperature, round, i, r.Tokens, probs(r), want, wp)
				}
			}
			switch round {
			case 0: // each slot takes the next one's sequence
				hists = append(hists[1:], hists[0])
			case 1:
				d.Truncate(0, 2)
				d.Free(1)
			}
		}
	}
}

// probs lists the probability each drafted token had.
func probs(r draft.Request) []float64 {
	var p []float64
	for i, q := range r.Dists {
		p = append(p, q.Prob(r.Tokens[i]))
	}
	return p
}

// TestDrafterLookupFirst: with prompt lookup on, a request whose context repeats drafts
// by lookup (point masses) and another by the draft model, in the same call.
func TestDrafterLookupFirst(t *testing.T) {
	m, err := model.Load(testmodel.Stories(t), model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	d, err := draft.New(draft.Config{Model: m, NGram: true}, 2, 128)
	if err != nil {
		t.Fatal(err)
	}
	rs := []draft.Request{{Slot: 0, Hist: []int{1, 5, 6, 7, 8, 5, 6}, K: 3}, {Slot: 1, Hist: []int{1, 300, 301}, K: 3}}
	if err := d.Draft(context.Background(), rs); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rs[0].Tokens, []int{7, 8, 5}) || rs[0].Dists[0] != nil {
		t.Errorf("lookup: %v %v", rs[0].Tokens, rs[0].Dists)
	}
	if len(rs[1].Tokens) != 3 || rs[1].Dists[0] == nil {
		t.Errorf("draft model: %v %v", rs[1].Tokens, rs[1].Dists)
	}
	if d.Bytes(1) == 0 || d.Bytes(0) != 0 {
		t.Errorf("slot bytes %d and %d: the draft model ran for slot 1 only", d.Bytes(0), d.Bytes(1))
	}
}
