package model

import (
	"fmt"
	"sort"
)

// Cache holds the keys and values of every sequence the model is running, per layer and
// per sequence, each layer sized by its own number of KV heads. Sequences are named by
// small non-negative integers chosen by the caller (slots). Values are float32.
type Cache struct {
	cfg    *Config
	maxLen int
	seqs   map[int]*seqKV
}

type seqKV struct {
	n    int         // positions filled: 0..n-1
	k, v [][]float32 // per layer: n×KVDim(l) values, grown on demand
}

// NewCache returns an empty cache for a model of the given configuration, holding at most
// maxLen positions per sequence (0 means the config's ContextLength).
func NewCache(cfg *Config, maxLen int) *Cache {
	if maxLen <= 0 {
		maxLen = cfg.ContextLength()
	}
	return &Cache{cfg: cfg, maxLen: maxLen, seqs: map[int]*seqKV{}}
}

// MaxLen is the most positions one sequence may hold.
func (c *Cache) MaxLen() int { return c.maxLen }

// Len is the number of positions stored for sequence seq (0 for an unknown one).
func (c *Cache) Len(seq int) int {
	if s, ok := c.seqs[seq]; ok {
		return s.n
	}
	return 0
}

// Truncate forgets positions n and beyond of sequence seq.
func (c *Cache) Truncate(seq, n int) {
	if s, ok := c.seqs[seq]; ok && n < s.n {
		if n < 0 {
			n = 0
		}
		s.n = n
	}
}

// Free forgets sequence seq entirely and releases its memory.
func (c *Cache) Free(seq int) { delete(c.seqs, seq) }

// Sequences lists the sequences that hold positions, in increasing order.
func (c *Cache) Sequences() []int {
	var ids []int
	for id := range c.seqs {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	return ids
}

// CopyPrefix makes sequence dst hold the first n positions of sequence src (dst's own
// positions are replaced). Evaluation uses it to score several continuations of one
// context while computing the context once.
func (c *Cache) CopyPrefix(dst, src, n int) error {
	s, ok := c.seqs[src]
	if !ok || n > s.n || n < 0 {
		return fmt.Errorf("kv cache: sequence %d has %d positions, cannot copy %d", src, c.Len(src), n)
	}
	d := c.seq(dst)
	for l := range s.k {
		w := c.cfg.KVDim(l)
		d.k[l] = append(d.k[l][:0], s.k[l][:n*w]...)
		d.v[l] = append(d.v[l][:0], s.v[l][:n*w]...)
	}
	d.n = n
	return nil
}

// Bytes is the memory the cache's values take now.
func (c *Cache) Bytes() int64 {
	var n int64
	for id := range c.seqs {
		n += c.SeqBytes(id)
	}
	return n
}

// SeqBytes is the memory held by sequence seq's keys and values (0 for an unknown one).
func (c *Cache) SeqBytes(seq int) int64 {
	s, ok := c.seqs[seq]
	if !ok {
		return 0
	}
	var n int64
	for l := range s.k {
		n += int64(4 * (cap(s.k[l]) + cap(s.v[l])))
	}
	return n
}

func (c *Cache) seq(id int) *seqKV {
	s, ok := c.seqs[id]
	if !ok {
		s = &seqKV{k: make([][]float32, c.cfg.Layers), v: make([][]float32, c.cfg.Layers)}
		c.seqs[id] = s
	}
	return s
}

// Reserve allocates room for n positions of sequence seq up front (at most MaxLen), so a
// caller that knows how long a sequence may grow holds exactly that memory instead of
// the slack of doubling.
func (c *Cache) Reserve(seq, n int) {
	n = min(n, c.maxLen)
	s := c.seq(seq)
	for l := range s.k {
		need := n * c.cfg.KVDim(l)
		if cap(s.k[l]) < need {
			s.k[l] = withCap(s.k[l], need)
			s.v[l] = withCap(s.v[l], need)
		}
	}
}

// reserve makes room for positions up to n (exclusive) of sequence s.
func (c *Cache) reserve(s *seqKV, n int) {
	for l := range s.k {
		w := c.cfg.KVDim(l)
		need := n * w
		if len(s.k[l]) < need {
			s.k[l] = grow(s.k[l], need, c.maxLen*w)
			s.v[l] = grow(s.v[l], need, c.maxLen*w)
		}
	}
}

// grow extends b to length n, doubling its capacity but never beyond limit.
func grow(b []float32, n, limit int) []float32 {
	if cap(b) >= n {
		return b[:n]
	}
	nb := withCap(b, min(max(2*cap(b), n), max(limit, n)))
	return nb[:n]
}

// withCap returns b's contents in a slice of capacity c (len unchanged).
func withCap(b []float32, c int) []float32 {
	nb := make([]float32, len(b), c)
	copy(nb, b)
	return nb
}
