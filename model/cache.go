package model

import (
	"fmt"
	"sort"
	"strings"

	"github.com/decilm/decilm/kernel"
)

// CacheType is how a Cache stores keys and values.
type CacheType uint8

// The cache types. F16 halves the memory of F32, rounding each key and value to float16
// once, when it is written; Q8_0 stores each head's row in ggml's q8_0 blocks (32 int8
// values after a float16 scale, 34 bytes), as llama.cpp's --cache-type-k/v q8_0 does,
// and needs a head dimension that is a multiple of 32.
const (
	CacheF16 CacheType = iota // the zero value: decilm's default
	CacheF32
	CacheQ8_0
)

var cacheTypeNames = [...]string{CacheF16: "f16", CacheF32: "f32", CacheQ8_0: "q8_0"}

// String is the type's name as --cache-type spells it.
func (t CacheType) String() string {
	if int(t) < len(cacheTypeNames) {
		return cacheTypeNames[t]
	}
	return fmt.Sprintf("CacheType(%d)", t)
}

// ParseCacheType reads a cache type's name: f16, f32 or q8_0.
func ParseCacheType(s string) (CacheType, error) {
	for t, name := range cacheTypeNames {
		if strings.EqualFold(s, name) {
			return CacheType(t), nil
		}
	}
	return 0, fmt.Errorf("unknown KV cache type %q (want %s)", s, strings.Join(cacheTypeNames[:], ", "))
}

// rowBytes is the memory n cached values take.
func (t CacheType) rowBytes(n int) int {
	switch t {
	case CacheF32:
		return 4 * n
	case CacheQ8_0:
		return n / 32 * kernel.Q8Block
	}
	return 2 * n
}

// Check reports whether a cache of type t can hold the keys and values of a model of
// configuration cfg: q8_0 needs a head dimension that is a multiple of 32.
func (t CacheType) Check(cfg *Config) error {
	if int(t) >= len(cacheTypeNames) {
		return fmt.Errorf("unknown KV cache type %d", t)
	}
	if t == CacheQ8_0 && cfg.HeadDim%32 != 0 {
		return fmt.Errorf("KV cache type q8_0 needs a head dimension that is a multiple of 32; the model's is %d (use f16 or f32)", cfg.HeadDim)
	}
	return nil
}

// KVBytesPerToken is the memory one position of one sequence takes in a cache of type t
// for a model of configuration cfg: keys and values over every layer that has them.
func KVBytesPerToken(cfg *Config, t CacheType) int64 {
	var n int64
	for l := range cfg.Blocks {
		n += 2 * int64(t.rowBytes(cfg.KVDim(l)))
	}
	return n
}

// Cache holds the keys and values of every sequence the model is running, per layer and
// per sequence, each layer sized by its own number of KV heads. Sequences are named by
// small non-negative integers chosen by the caller (slots). Values are stored in the
// cache's type (float32, float16 or q8_0), converted once when a position is written;
// attention reads them in that type.
type Cache struct {
	cfg    *Config
	typ    CacheType
	maxLen int
	seqs   map[int]*seqKV
}

// seqKV is one sequence's keys and values: per layer, n positions of rowLen(l) elements
// each, in the one slice the cache's type uses (grown on demand).
type seqKV struct {
	n        int // positions filled: 0..n-1
	k32, v32 [][]float32
	k16, v16 [][]uint16
	k8, v8   [][]byte
}

// NewCache returns an empty float32 cache for a model of the given configuration,
// holding at most maxLen positions per sequence (0 means the config's ContextLength).
// Float32 keeps the model's arithmetic exact, as the evaluation and reference tests want;
// NewTypedCache chooses another type.
func NewCache(cfg *Config, maxLen int) *Cache {
	c, _ := NewTypedCache(cfg, maxLen, CacheF32)
	return c
}

// NewTypedCache is NewCache storing keys and values in type t; it fails when the model
// cannot be cached in t (see CacheType.Check).
func NewTypedCache(cfg *Config, maxLen int, t CacheType) (*Cache, error) {
	if err := t.Check(cfg); err != nil {
		return nil, err
	}
	if maxLen <= 0 {
		maxLen = cfg.ContextLength()
	}
	return &Cache{cfg: cfg, typ: t, maxLen: maxLen, seqs: map[int]*seqKV{}}, nil
}

// Type is how the cache stores keys and values.
func (c *Cache) Type() CacheType { return c.typ }

// BytesPerToken is the memory one position of one sequence takes.
func (c *Cache) BytesPerToken() int64 { return KVBytesPerToken(c.cfg, c.typ) }

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

// rowLen is the number of stored elements (float32s, float16s or bytes) one position of
// layer l takes.
func (c *Cache) rowLen(l int) int {
	w := c.cfg.KVDim(l)
	if c.typ == CacheQ8_0 {
		return w / 32 * kernel.Q8Block
	}
	return w
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
	for l := 0; l < c.cfg.Layers; l++ {
		e := n * c.rowLen(l)
		switch c.typ {
		case CacheF32:
			d.k32[l] = append(d.k32[l][:0], s.k32[l][:e]...)
			d.v32[l] = append(d.v32[l][:0], s.v32[l][:e]...)
		case CacheF16:
			d.k16[l] = append(d.k16[l][:0], s.k16[l][:e]...)
			d.v16[l] = append(d.v16[l][:0], s.v16[l][:e]...)
		case CacheQ8_0:
			d.k8[l] = append(d.k8[l][:0], s.k8[l][:e]...)
			d.v8[l] = append(d.v8[l][:0], s.v8[l][:e]...)
		}
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
	for l := 0; l < c.cfg.Layers; l++ {
		switch c.typ {
		case CacheF32:
			n += int64(4 * (cap(s.k32[l]) + cap(s.v32[l])))
		case CacheF16:
			n += int64(2 * (cap(s.k16[l]) + cap(s.v16[l])))
		case CacheQ8_0:
			n += int64(cap(s.k8[l]) + cap(s.v8[l]))
		}
	}
	return n
}

func (c *Cache) seq(id int) *seqKV {
	s, ok := c.seqs[id]
	if !ok {
		L := c.cfg.Layers
		s = &seqKV{}
		switch c.typ {
		case CacheF32:
			s.k32, s.v32 = make([][]float32, L), make([][]float32, L)
		case CacheF16:
			s.k16, s.v16 = make([][]uint16, L), make([][]uint16, L)
		case CacheQ8_0:
			s.k8, s.v8 = make([][]byte, L), make([][]byte, L)
		}
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
	for l := 0; l < c.cfg.Layers; l++ {
		need := n * c.rowLen(l)
		switch c.typ {
		case CacheF32:
			s.k32[l], s.v32[l] = atLeast(s.k32[l], need), atLeast(s.v32[l], need)
		case CacheF16:
			s.k16[l], s.v16[l] = atLeast(s.k16[l], need), atLeast(s.v16[l], need)
		case CacheQ8_0:
			s.k8[l], s.v8[l] = atLeast(s.k8[l], need), atLeast(s.v8[l], need)
		}
	}
}

// reserve makes room for positions up to n (exclusive) of sequence s.
func (c *Cache) reserve(s *seqKV, n int) {
	for l := 0; l < c.cfg.Layers; l++ {
		w := c.rowLen(l)
		need, limit := n*w, c.maxLen*w
		switch c.typ {
		case CacheF32:
			s.k32[l], s.v32[l] = grow(s.k32[l], need, limit), grow(s.v32[l], need, limit)
		case CacheF16:
			s.k16[l], s.v16[l] = grow(s.k16[l], need, limit), grow(s.v16[l], need, limit)
		case CacheQ8_0:
			s.k8[l], s.v8[l] = grow(s.k8[l], need, limit), grow(s.v8[l], need, limit)
		}
	}
}

// put stores the keys k and values v of position p of sequence s in layer l (KVDim(l)
// float32 values each), converting them to the cache's type.
func (c *Cache) put(s *seqKV, l, p int, k, v []float32) {
	w := c.rowLen(l)
	switch c.typ {
	case CacheF32:
		copy(s.k32[l][p*w:(p+1)*w], k)
		copy(s.v32[l][p*w:(p+1)*w], v)
	case CacheF16:
		kernel.EncodeF16(s.k16[l][p*w:(p+1)*w], k)
		kernel.EncodeF16(s.v16[l][p*w:(p+1)*w], v)
	case CacheQ8_0:
		// Check guarantees whole blocks, so these cannot fail.
		_ = kernel.EncodeQ8(s.k8[l][p*w:(p+1)*w], k)
		_ = kernel.EncodeQ8(s.v8[l][p*w:(p+1)*w], v)
	}
}

// attend computes one query head's attention in layer l over the first len(scores)
// positions of sequence s, reading KV head g: scores receives q·k_t·scale then its
// softmax, and out (HeadDim values) the scores' weighted sum of the values.
func (c *Cache) attend(out, scores, q []float32, s *seqKV, l, g int, scale float32) {
	hd := c.cfg.HeadDim
	w := c.rowLen(l)
	switch c.typ {
	case CacheF32:
		kernel.DotRows(scores, q, s.k32[l][g*hd:], w, scale)
	case CacheF16:
		kernel.DotRowsF16(scores, q, s.k16[l][g*hd:], w, scale)
	case CacheQ8_0:
		kernel.DotRowsQ8(scores, q, s.k8[l][g*hd/32*kernel.Q8Block:], w, scale)
	}
	kernel.Softmax(scores)
	clear(out)
	switch c.typ {
	case CacheF32:
		kernel.AxpyRows(out, scores, s.v32[l][g*hd:], w)
	case CacheF16:
		kernel.AxpyRowsF16(out, scores, s.v16[l][g*hd:], w)
	case CacheQ8_0:
		kernel.AxpyRowsQ8(out, scores, s.v8[l][g*hd/32*kernel.Q8Block:], w)
	}
}

// grow extends b to length n, doubling its capacity but never beyond limit.
func grow[T any](b []T, n, limit int) []T {
	if cap(b) >= n {
		return b[:n]
	}
	nb := withCap(b, min(max(2*cap(b), n), max(limit, n)))
	return nb[:n]
}

// atLeast returns b with capacity at least c (length unchanged).
func atLeast[T any](b []T, c int) []T {
	if cap(b) >= c {
		return b
	}
	return withCap(b, c)
}

// withCap returns b's contents in a slice of capacity c (len unchanged).
func withCap[T any](b []T, c int) []T {
	nb := make([]T, len(b), c)
	copy(nb, b)
	return nb
}
