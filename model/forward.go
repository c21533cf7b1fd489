package model

import (
	"errors"
	"fmt"
	"math"

	"github.com/decilm/decilm/kernel"
	"github.com/decilm/decilm/tensor"
)

// Batch is a set of rows to run through the transformer in one pass, as llama.cpp's
// llama_batch: row i feeds token Tokens[i] at position Pos[i] of sequence Seq[i]. Rows of
// one sequence must have consecutive positions, in order, starting at or before the
// sequence's current length in the cache (starting before it rewrites the cache from
// there). Rows of several sequences may be mixed freely.
type Batch struct {
	Tokens []int
	Pos    []int
	Seq    []int
	// Logits marks the rows whose next-token logits are wanted; nil means every row.
	Logits []bool
	// Hidden, when not nil, receives the final hidden state (after the last norm, as
	// Hugging Face's last_hidden_state) of each row whose logits are computed, in row
	// order: Config.Hidden values a row.
	Hidden []float32
	// Adapter, when not nil, holds each row's LoRA adapter (nil entries: the model's own,
	// see Model.SetAdapter), so that rows of different adapters share one pass.
	Adapter []*Adapter
}

// Add appends a row.
func (b *Batch) Add(seq, pos, token int, logits bool) {
	b.Tokens = append(b.Tokens, token)
	b.Pos = append(b.Pos, pos)
	b.Seq = append(b.Seq, seq)
	b.Logits = append(b.Logits, logits)
}

// Len is the number of rows.
func (b *Batch) Len() int { return len(b.Tokens) }

// Reset empties the batch, keeping its storage.
func (b *Batch) Reset() {
	b.Tokens, b.Pos, b.Seq, b.Logits = b.Tokens[:0], b.Pos[:0], b.Seq[:0], b.Logits[:0]
	if b.Adapter != nil {
		clear(b.Adapter)
		b.Adapter = b.Adapter[:0]
	}
}

// ErrContext reports a position beyond what the cache may hold.
var ErrContext = errors.New("context length exceeded")

// scratch holds the activations of one Forward call, reused between calls.
type scratch struct {
	x, xb, q, k, v, att, gate, up, mlp []float32
	cos, sin                           []float32 // per row: HeadDim/2 each
	out                                []float32
	ad                                 []*Adapter // each row's adapter (lora.go)
	anyAd                              bool       // some row has one
}

func resize(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

// Forward runs the rows of b through the transformer, storing their keys and values in c,
// and returns the logits of the rows marked in b.Logits, in row order: a slice of
// count×Vocab float32 values. The slice is reused by the next call.
func (m *Model) Forward(b *Batch, c *Cache) ([]float32, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cfg := m.Config
	n := len(b.Tokens)
	if n == 0 {
		return nil, nil
	}
	if len(b.Pos) != n || len(b.Seq) != n || (b.Logits != nil && len(b.Logits) != n) || (b.Adapter != nil && len(b.Adapter) != n) {
		return nil, fmt.Errorf("forward: batch fields have different lengths (%d tokens, %d positions, %d sequences, %d logit flags, %d adapters)", n, len(b.Pos), len(b.Seq), len(b.Logits), len(b.Adapter))
	}
	var err error
	if m.scratch.anyAd, err = m.rowAdapters(b, n); err != nil {
		return nil, err
	}
	if c.cfg != cfg && (c.cfg.Layers != cfg.Layers || c.cfg.HeadDim != cfg.HeadDim || !sameKV(c.cfg, cfg)) {
		return nil, errors.New("forward: the cache belongs to a model of another shape")
	}
	// Check each sequence's rows: consecutive positions starting within what is stored.
	next := map[int]int{}   // next expected position of each sequence in this batch
	seqLen := map[int]int{} // length of each sequence after this batch
	for i := 0; i < n; i++ {
		s, p, t := b.Seq[i], b.Pos[i], b.Tokens[i]
		if t < 0 || t >= cfg.Vocab {
			return nil, fmt.Errorf("forward: row %d: token %d outside the vocabulary [0,%d)", i, t, cfg.Vocab)
		}
		if s < 0 {
			return nil, fmt.Errorf("forward: row %d: negative sequence id %d", i, s)
		}
		want, seen := next[s]
		if !seen {
			if p < 0 || p > c.Len(s) {
				return nil, fmt.Errorf("forward: row %d: sequence %d starts at position %d but holds %d", i, s, p, c.Len(s))
			}
		} else if p != want {
			return nil, fmt.Errorf("forward: row %d: sequence %d position %d, expected %d (rows of a sequence must be consecutive)", i, s, p, want)
		}
		if p >= c.maxLen {
			return nil, fmt.Errorf("forward: sequence %d position %d: %w (cache holds %d positions)", s, p, ErrContext, c.maxLen)
		}
		next[s] = p + 1
		if p+1 > seqLen[s] {
			seqLen[s] = p + 1
		}
	}
	for s, end := range next {
		kv := c.seq(s)
		c.reserve(kv, end)
		if st := b.firstPos(s); st < kv.n {
			kv.n = st // rewriting from st
		}
	}

	H, hd := cfg.Hidden, cfg.HeadDim
	sc := &m.scratch
	sc.x = resize(sc.x, n*H)
	sc.xb = resize(sc.xb, n*H)
	sc.q = resize(sc.q, n*H)
	sc.att = resize(sc.att, n*H)
	sc.gate = resize(sc.gate, n*cfg.MaxFFN())
	sc.up = resize(sc.up, n*cfg.MaxFFN())
	sc.cos = resize(sc.cos, n*hd/2)
	sc.sin = resize(sc.sin, n*hd/2)
	maxKV := 0
	for l := range cfg.Blocks {
		maxKV = max(maxKV, cfg.KVDim(l))
	}
	sc.k = resize(sc.k, n*maxKV)
	sc.v = resize(sc.v, n*maxKV)

	for i, t := range b.Tokens {
		if err := kernel.Row(sc.x[i*H:(i+1)*H], m.Embed, t); err != nil {
			return nil, fmt.Errorf("forward: embedding: %w", err)
		}
		m.Config.RopeAngles(sc.cos[i*hd/2:(i+1)*hd/2], sc.sin[i*hd/2:(i+1)*hd/2], b.Pos[i], seqLen[b.Seq[i]])
	}

	for l := range m.Layers {
		if err := m.layer(l, b, c, n); err != nil {
			return nil, fmt.Errorf("forward: layer %d: %w", l, err)
		}
	}
	for s, end := range next {
		kv := c.seqs[s]
		if end > kv.n {
			kv.n = end
		}
	}

	// Final norm and classifier for the rows that want logits.
	var rows []int
	for i := 0; i < n; i++ {
		if b.Logits == nil || b.Logits[i] {
			rows = append(rows, i)
		}
	}
	if len(rows) == 0 {
		return nil, nil
	}
	for j, i := range rows {
		kernel.RMSNorm(sc.xb[j*H:(j+1)*H], sc.x[i*H:(i+1)*H], m.Norm, float32(cfg.NormEps))
	}
	if b.Hidden != nil {
		if len(b.Hidden) < len(rows)*H {
			return nil, fmt.Errorf("forward: Hidden holds %d values, %d rows need %d", len(b.Hidden), len(rows), len(rows)*H)
		}
		copy(b.Hidden, sc.xb[:len(rows)*H])
	}
	sc.out = resize(sc.out, len(rows)*cfg.Vocab)
	m.observe(m.LMHead, sc.xb, len(rows))
	if err := m.pool.MatMul(sc.out, sc.xb[:len(rows)*H], len(rows), m.LMHead); err != nil {
		return nil, fmt.Errorf("forward: lm_head: %w", err)
	}
	return sc.out, nil
}

// sameKV reports whether two configurations cache the same widths in every layer.
func sameKV(a, b *Config) bool {
	for l := range a.Blocks {
		if a.KVDim(l) != b.KVDim(l) {
			return false
		}
	}
	return true
}

// firstPos returns the position of the first row of sequence s in the batch.
func (b *Batch) firstPos(s int) int {
	for i, q := range b.Seq {
		if q == s {
			return b.Pos[i]
		}
	}
	return -1
}

// rows calls f(i) for the batch's rows i < n, split over the pool's threads when there
// are several.
func (m *Model) rows(n int, f func(i int)) {
	if n == 1 {
		f(0)
		return
	}
	m.pool.Run(n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			f(i)
		}
	})
}

// layer runs decoder block l over the batch's n rows, updating m.scratch.x in place.
func (m *Model) layer(l int, b *Batch, c *Cache, n int) error {
	cfg := m.Config
	ly := &m.Layers[l]
	sc := &m.scratch
	H := cfg.Hidden
	eps := float32(cfg.NormEps)
	switch ly.Attn {
	case AttnGrouped:
		m.rows(n, func(i int) { kernel.RMSNorm(sc.xb[i*H:(i+1)*H], sc.x[i*H:(i+1)*H], ly.AttnNorm, eps) })
		if err := m.attention(l, b, c, n); err != nil {
			return err
		}
		m.rows(n, func(i int) { kernel.Axpy(1, sc.xb[i*H:(i+1)*H], sc.x[i*H:(i+1)*H]) }) // x + xb, rounded once
	case AttnLinear:
		m.rows(n, func(i int) { kernel.RMSNorm(sc.att[i*H:(i+1)*H], sc.x[i*H:(i+1)*H], ly.AttnNorm, eps) })
		m.observe(ly.AttnLinear, sc.att, n)
		if err := m.pool.MatMul(sc.xb, sc.att[:n*H], n, ly.AttnLinear); err != nil {
			return err
		}
		m.addLoRA(l, ProjAttnLinear, sc.att, H, sc.xb, H, n)
		m.rows(n, func(i int) { kernel.Axpy(1, sc.xb[i*H:(i+1)*H], sc.x[i*H:(i+1)*H]) })
	}
	switch ly.FFN {
	case FFNGated:
		m.rows(n, func(i int) { kernel.RMSNorm(sc.xb[i*H:(i+1)*H], sc.x[i*H:(i+1)*H], ly.MLPNorm, eps) })
		F := ly.FFNWidth
		gate, up := sc.gate[:n*F], sc.up[:n*F]
		m.observe(ly.Gate, sc.xb, n, ly.Up)
		if err := m.pool.MatMuls([][]float32{gate, up}, sc.xb, n, []*tensor.Tensor{ly.Gate, ly.Up}); err != nil {
			return err
		}
		m.addLoRA(l, ProjGate, sc.xb, H, gate, F, n)
		m.addLoRA(l, ProjUp, sc.xb, H, up, F, n)
		m.rows(n, func(i int) { kernel.SiLUMul(gate[i*F:(i+1)*F], gate[i*F:(i+1)*F], up[i*F:(i+1)*F]) })
		m.observe(ly.Down, gate, n)
		if err := m.pool.MatMul(sc.xb, gate, n, ly.Down); err != nil {
			return err
		}
		m.addLoRA(l, ProjDown, gate, F, sc.xb, H, n)
		m.rows(n, func(i int) { kernel.Axpy(1, sc.xb[i*H:(i+1)*H], sc.x[i*H:(i+1)*H]) })
	case FFNLinear:
		m.rows(n, func(i int) { kernel.RMSNorm(sc.att[i*H:(i+1)*H], sc.x[i*H:(i+1)*H], ly.MLPNorm, eps) })
		m.observe(ly.FFNLinear, sc.att, n)
		if err := m.pool.MatMul(sc.xb, sc.att[:n*H], n, ly.FFNLinear); err != nil {
			return err
		}
		m.addLoRA(l, ProjFFNLinear, sc.att, H, sc.xb, H, n)
		m.rows(n, func(i int) { kernel.Axpy(1, sc.xb[i*H:(i+1)*H], sc.x[i*H:(i+1)*H]) })
	}
	return nil
}

// attention runs layer l's grouped-query attention on the normed rows in m.scratch.xb,
// storing the rows' keys and values in c, and leaves the output projection in
// m.scratch.xb.
func (m *Model) attention(l int, b *Batch, c *Cache, n int) error {
	cfg := m.Config
	ly := &m.Layers[l]
	sc := &m.scratch
	H, hd, kvd := cfg.Hidden, cfg.HeadDim, cfg.KVDim(l)
	k, v := sc.k[:n*kvd], sc.v[:n*kvd]
	m.observe(ly.Q, sc.xb, n, ly.K, ly.V)
	if err := m.pool.MatMuls([][]float32{sc.q, k, v}, sc.xb, n, []*tensor.Tensor{ly.Q, ly.K, ly.V}); err != nil {
		return err
	}
	m.addLoRA(l, ProjQ, sc.xb, H, sc.q, cfg.Heads*hd, n)
	m.addLoRA(l, ProjK, sc.xb, H, k, kvd, n)
	m.addLoRA(l, ProjV, sc.xb, H, v, kvd, n)
	half := hd / 2
	m.rows(n, func(i int) {
		cs, sn := sc.cos[i*half:(i+1)*half], sc.sin[i*half:(i+1)*half]
		kernel.RoPE(sc.q[i*H:(i+1)*H], cfg.Heads, hd, cs, sn, cfg.RopeInterleaved)
		kernel.RoPE(k[i*kvd:(i+1)*kvd], ly.KVHeads, hd, cs, sn, cfg.RopeInterleaved)
		c.put(c.seqs[b.Seq[i]], l, b.Pos[i], k[i*kvd:(i+1)*kvd], v[i*kvd:(i+1)*kvd])
	})
	// Each (row, head) pair attends to positions 0..pos of its sequence.
	group := cfg.Heads / ly.KVHeads
	scale := float32(1 / math.Sqrt(float64(hd)))
	m.pool.Run(n*cfg.Heads, func(lo, hi int) {
		var scores []float32
		for w := lo; w < hi; w++ {
			i, h := w/cfg.Heads, w%cfg.Heads
			kv := c.seqs[b.Seq[i]]
			p := b.Pos[i]
			g := h / group
			q := sc.q[i*H+h*hd : i*H+(h+1)*hd]
			scores = resize(scores, p+1)
			c.attend(sc.att[i*H+h*hd:i*H+(h+1)*hd], scores, q, kv, l, g, scale)
		}
	})
	m.observe(ly.O, sc.att, n)
	if err := m.pool.MatMul(sc.xb, sc.att, n, ly.O); err != nil {
		return err
	}
	m.addLoRA(l, ProjO, sc.att, H, sc.xb, H, n)
	return nil
}
