package train

import (
	"errors"
	"fmt"
	"math"

	"github.com/decilm/decilm/kernel"
	"github.com/decilm/decilm/model"
)

// MaxBatchTokens bounds the tokens of one Step or Loss call.
const MaxBatchTokens = 1 << 20

// logitElems bounds the float32 logits held at once (32 MiB): the classifier runs over
// the counted rows a chunk at a time.
const logitElems = 1 << 23

// batch is a validated batch laid out as rows: example e holds rows
// [start[e], start[e]+len(e.Tokens)).
type batch struct {
	n          int
	start, len []int
	tokens     []int
	cos, sin   []float32 // [n, HeadDim/2]
	rows, tgts []int     // counted rows and their target tokens
}

// prepare checks the examples and lays them out as rows.
func (n *Net) prepare(ex []Example) (*batch, error) {
	cfg := n.m.Config
	if len(ex) == 0 {
		return nil, errors.New("train: empty batch")
	}
	ctx := cfg.ContextLength()
	b := &batch{}
	for e, x := range ex {
		if len(x.Tokens) == 0 {
			return nil, fmt.Errorf("train: example %d has no tokens", e)
		}
		if len(x.Loss) != len(x.Tokens)-1 {
			return nil, fmt.Errorf("train: example %d has %d tokens and %d loss flags (want one fewer flags than tokens)", e, len(x.Tokens), len(x.Loss))
		}
		if len(x.Tokens) > ctx {
			return nil, fmt.Errorf("train: example %d has %d tokens, more than the model's context of %d", e, len(x.Tokens), ctx)
		}
		if b.n+len(x.Tokens) > MaxBatchTokens {
			return nil, fmt.Errorf("train: batch has more than %d tokens", MaxBatchTokens)
		}
		for i, t := range x.Tokens {
			if t < 0 || t >= cfg.Vocab {
				return nil, fmt.Errorf("train: example %d token %d: id %d outside the vocabulary [0,%d)", e, i, t, cfg.Vocab)
			}
		}
		b.start = append(b.start, b.n)
		b.len = append(b.len, len(x.Tokens))
		b.tokens = append(b.tokens, x.Tokens...)
		for i, c := range x.Loss {
			if c {
				b.rows = append(b.rows, b.n+i)
				b.tgts = append(b.tgts, x.Tokens[i+1])
			}
		}
		b.n += len(x.Tokens)
	}
	half := cfg.HeadDim / 2
	b.cos = make([]float32, b.n*half)
	b.sin = make([]float32, b.n*half)
	for e, st := range b.start {
		for p := 0; p < b.len[e]; p++ {
			i := st + p
			cfg.RopeAngles(b.cos[i*half:(i+1)*half], b.sin[i*half:(i+1)*half], p, b.len[e])
		}
	}
	return b, nil
}

// acts holds one layer's activations for its backward pass.
type acts struct {
	x0          []float32   // layer input (not owned)
	rA, rM      []float32   // per-row inverse RMS of the two norms
	xn, q, k, v []float32   // attention: normed input, rotated q and k, v
	o, lse      []float32   // attention output before o_proj, log-sum-exp per (row, head)
	x1          []float32   // residual stream after the attention part
	xm, g, u, a []float32   // FFN: normed input, gate, up, silu(gate)·up
	lu          [][]float32 // x·Aᵀ of each adapted projection, by module
	r           int
}

func (a *acts) alloc(cfg *model.Config, blk model.Block, n int) {
	H, qd := cfg.Hidden, cfg.Heads*cfg.HeadDim
	a.rA, a.rM = grow(a.rA, n), grow(a.rM, n)
	a.x1 = grow(a.x1, n*H)
	if blk.Attn != model.AttnNone {
		a.xn = grow(a.xn, n*H)
	}
	if blk.Attn == model.AttnGrouped {
		kvd := blk.KVHeads * cfg.HeadDim
		a.q, a.k, a.v = grow(a.q, n*qd), grow(a.k, n*kvd), grow(a.v, n*kvd)
		a.o, a.lse = grow(a.o, n*qd), grow(a.lse, n*cfg.Heads)
	}
	if blk.FFN != model.FFNNone {
		a.xm = grow(a.xm, n*H)
	}
	if blk.FFN == model.FFNGated {
		F := blk.FFNWidth
		a.g, a.u, a.a = grow(a.g, n*F), grow(a.u, n*F), grow(a.a, n*F)
	}
	if a.lu == nil {
		a.lu = make([][]float32, model.NumProj)
	}
}

// grads is the scratch of the backward pass.
type grads struct {
	dxn, dy, dq, dk, dv, dkh, dvh, dg, du []float32
}

// Step runs forward and backward over the examples and ADDS d(sum of counted token
// losses)/dW into each Param.G; it returns the summed cross-entropy (nats) and the number
// of counted tokens. checkpoint=true recomputes each layer's activations in the backward
// pass (activation checkpointing) instead of keeping them.
func (n *Net) Step(batch []Example, checkpoint bool) (lossSum float64, count int, err error) {
	return n.run(batch, true, checkpoint)
}

// Loss is Step without gradients (evaluation).
func (n *Net) Loss(batch []Example) (lossSum float64, count int, err error) {
	return n.run(batch, false, true)
}

func (n *Net) run(ex []Example, grad, checkpoint bool) (float64, int, error) {
	b, err := n.prepare(ex)
	if err != nil {
		return 0, 0, err
	}
	m := n.m
	cfg := m.Config
	H, L, N := cfg.Hidden, len(m.Layers), b.n
	// xs[l] is layer l's input; xs[L] the last layer's output.
	xs := make([][]float32, L+1)
	xs[0] = make([]float32, N*H)
	for i, t := range b.tokens {
		if err := kernel.Row(xs[0][i*H:(i+1)*H], m.Embed, t); err != nil {
			return 0, 0, fmt.Errorf("train: embedding: %w", err)
		}
	}
	keep := grad && !checkpoint
	var saved []*acts
	if keep {
		saved = make([]*acts, L)
	}
	var work acts
	for l := 0; l < L; l++ {
		a := &work
		if keep {
			a = &acts{}
			saved[l] = a
		}
		xs[l+1] = make([]float32, N*H)
		if err := n.layerForward(l, b, xs[l], xs[l+1], a); err != nil {
			return 0, 0, fmt.Errorf("train: layer %d: %w", l, err)
		}
		if !grad && l > 0 {
			xs[l] = nil // only the running stream is needed
		}
	}
	var dx []float32
	if grad {
		dx = make([]float32, N*H)
	}
	loss, err := n.head(b, xs[L], dx)
	if err != nil {
		return 0, 0, err
	}
	if !grad {
		return loss, len(b.rows), nil
	}
	var g grads
	spare := make([]float32, N*H)
	for l := L - 1; l >= 0; l-- {
		a := &work
		if keep {
			a = saved[l]
		} else if err := n.layerForward(l, b, xs[l], spare, a); err != nil {
			return 0, 0, fmt.Errorf("train: layer %d (recomputed): %w", l, err)
		}
		if err := n.layerBackward(l, b, a, dx, &g); err != nil {
			return 0, 0, fmt.Errorf("train: layer %d backward: %w", l, err)
		}
		xs[l+1] = nil
		if keep {
			saved[l] = nil
		}
	}
	return loss, len(b.rows), nil
}

// rowsDo runs f over rows [0, n) in parallel on the model's pool.
func (n *Net) rowsDo(rows int, f func(i int)) {
	n.lin.pool.Run(rows, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			f(i)
		}
	})
}

// proj sets y = x·Wᵀ, W projection k of layer l (+ s·(x·Aᵀ)·Bᵀ where it has an adapter, keeping
// x·Aᵀ in a.lu[k]).
func (n *Net) proj(y, x []float32, rows, l int, k model.Proj, a *acts) error {
	if err := n.lin.forward(y, x, rows, k.Weight(&n.m.Layers[l])); err != nil {
		return err
	}
	ad := n.ad[l][k]
	if ad == nil {
		return nil
	}
	r := n.cfg.R
	a.lu[k] = grow(a.lu[k], rows*r)
	u := a.lu[k]
	return loraForwardFast(n.lin.pool, &n.lsc, y, u, x, ad.a.W, ad.b.W, rows, ad.in, ad.out, r, float32(n.scale))
}

// projBack adds dy·W (and the adapter's part) to dx and the adapter's gradients to its
// Params, for the projection proj computed from x.
func (n *Net) projBack(dx, dy, x []float32, rows, l int, k model.Proj, a *acts, g *grads) error {
	if err := n.lin.backward(dx, dy, rows, k.Weight(&n.m.Layers[l])); err != nil {
		return err
	}
	ad := n.ad[l][k]
	if ad == nil {
		return nil
	}
	r := n.cfg.R
	return loraBackwardFast(n.lin.pool, &n.lsc, dx, ad.a.G, ad.b.G, dy, x, a.lu[k], ad.a.W, ad.b.W, rows, ad.in, ad.out, r, float32(n.scale))
}

// layerForward runs layer l on the rows x (not modified), writing its output to out and
// keeping in a what the backward needs.
func (n *Net) layerForward(l int, b *batch, x, out []float32, a *acts) error {
	m := n.m
	cfg := m.Config
	ly := &m.Layers[l]
	H, N := cfg.Hidden, b.n
	eps := cfg.NormEps
	a.alloc(cfg, ly.Block, N)
	a.x0 = x
	switch ly.Attn {
	case model.AttnGrouped:
		n.rowsDo(N, func(i int) { a.rA[i] = rmsNorm(a.xn[i*H:(i+1)*H], x[i*H:(i+1)*H], ly.AttnNorm, eps) })
		if err := n.attention(l, b, a, out); err != nil {
			return err
		}
		n.rowsDo(N, func(i int) { kernel.Axpy(1, x[i*H:(i+1)*H], out[i*H:(i+1)*H]) })
	case model.AttnLinear:
		n.rowsDo(N, func(i int) { a.rA[i] = rmsNorm(a.xn[i*H:(i+1)*H], x[i*H:(i+1)*H], ly.AttnNorm, eps) })
		if err := n.proj(out, a.xn, N, l, model.ProjAttnLinear, a); err != nil {
			return err
		}
		n.rowsDo(N, func(i int) { kernel.Axpy(1, x[i*H:(i+1)*H], out[i*H:(i+1)*H]) })
	default:
		copy(out[:N*H], x)
	}
	copy(a.x1, out[:N*H])
	switch ly.FFN {
	case model.FFNGated:
		F := ly.FFNWidth
		n.rowsDo(N, func(i int) { a.rM[i] = rmsNorm(a.xm[i*H:(i+1)*H], a.x1[i*H:(i+1)*H], ly.MLPNorm, eps) })
		if err := n.proj(a.g, a.xm, N, l, model.ProjGate, a); err != nil {
			return err
		}
		if err := n.proj(a.u, a.xm, N, l, model.ProjUp, a); err != nil {
			return err
		}
		n.rowsDo(N, func(i int) { siluMul(a.a[i*F:(i+1)*F], a.g[i*F:(i+1)*F], a.u[i*F:(i+1)*F]) })
		if err := n.proj(out, a.a, N, l, model.ProjDown, a); err != nil {
			return err
		}
		n.rowsDo(N, func(i int) { kernel.Axpy(1, a.x1[i*H:(i+1)*H], out[i*H:(i+1)*H]) })
	case model.FFNLinear:
		n.rowsDo(N, func(i int) { a.rM[i] = rmsNorm(a.xm[i*H:(i+1)*H], a.x1[i*H:(i+1)*H], ly.MLPNorm, eps) })
		if err := n.proj(out, a.xm, N, l, model.ProjFFNLinear, a); err != nil {
			return err
		}
		n.rowsDo(N, func(i int) { kernel.Axpy(1, a.x1[i*H:(i+1)*H], out[i*H:(i+1)*H]) })
	}
	return nil
}

// attention runs layer l's grouped-query attention on the normed rows a.xn, leaving the
// o_proj output in out.
func (n *Net) attention(l int, b *batch, a *acts, out []float32) error {
	m := n.m
	cfg := m.Config
	ly := &m.Layers[l]
	N, hd, heads, kvh := b.n, cfg.HeadDim, cfg.Heads, ly.KVHeads
	qd, kvd, half := heads*hd, kvh*hd, hd/2
	if err := n.proj(a.q, a.xn, N, l, model.ProjQ, a); err != nil {
		return err
	}
	if err := n.proj(a.k, a.xn, N, l, model.ProjK, a); err != nil {
		return err
	}
	if err := n.proj(a.v, a.xn, N, l, model.ProjV, a); err != nil {
		return err
	}
	n.rowsDo(N, func(i int) {
		cs, sn := b.cos[i*half:(i+1)*half], b.sin[i*half:(i+1)*half]
		rope(a.q[i*qd:(i+1)*qd], heads, hd, cs, sn, cfg.RopeInterleaved)
		rope(a.k[i*kvd:(i+1)*kvd], kvh, hd, cs, sn, cfg.RopeInterleaved)
	})
	group := heads / kvh
	scale := float32(1 / math.Sqrt(float64(hd)))
	maxLen := 0
	for _, t := range b.len {
		maxLen = max(maxLen, t)
	}
	n.lin.pool.Run(len(b.start)*heads, func(lo, hi int) {
		scores := make([]float32, maxLen)
		for w := lo; w < hi; w++ {
			e, h := w/heads, w%heads
			st, t := b.start[e], b.len[e]
			g := h / group
			lse := make([]float32, t)
			attnHead(a.o[st*qd+h*hd:], lse, a.q[st*qd+h*hd:], qd, a.k[st*kvd+g*hd:], a.v[st*kvd+g*hd:], kvd, t, hd, scale, scores)
			for i, v := range lse {
				a.lse[(st+i)*heads+h] = v
			}
		}
	})
	return n.proj(out, a.o, N, l, model.ProjO, a)
}

// layerBackward turns dx, the gradient of layer l's output, into the gradient of its
// input, adding the adapters' gradients to their Params on the way.
func (n *Net) layerBackward(l int, b *batch, a *acts, dx []float32, g *grads) error {
	m := n.m
	cfg := m.Config
	ly := &m.Layers[l]
	H, N := cfg.Hidden, b.n
	switch ly.FFN {
	case model.FFNGated:
		F := ly.FFNWidth
		g.dg, g.du = grow(g.dg, N*F), grow(g.du, N*F)
		da := g.dg
		clear(da)
		if err := n.projBack(da, dx, a.a, N, l, model.ProjDown, a, g); err != nil {
			return err
		}
		n.rowsDo(N, func(i int) {
			s := i * F
			siluMulBack(g.dg[s:s+F], g.du[s:s+F], da[s:s+F], a.g[s:s+F], a.u[s:s+F])
		})
		g.dxn = grow(g.dxn, N*H)
		clear(g.dxn)
		if err := n.projBack(g.dxn, g.dg, a.xm, N, l, model.ProjGate, a, g); err != nil {
			return err
		}
		if err := n.projBack(g.dxn, g.du, a.xm, N, l, model.ProjUp, a, g); err != nil {
			return err
		}
		n.rowsDo(N, func(i int) {
			rmsNormBack(dx[i*H:(i+1)*H], g.dxn[i*H:(i+1)*H], a.x1[i*H:(i+1)*H], ly.MLPNorm, a.rM[i])
		})
	case model.FFNLinear:
		g.dxn = grow(g.dxn, N*H)
		clear(g.dxn)
		if err := n.projBack(g.dxn, dx, a.xm, N, l, model.ProjFFNLinear, a, g); err != nil {
			return err
		}
		n.rowsDo(N, func(i int) {
			rmsNormBack(dx[i*H:(i+1)*H], g.dxn[i*H:(i+1)*H], a.x1[i*H:(i+1)*H], ly.MLPNorm, a.rM[i])
		})
	}
	switch ly.Attn {
	case model.AttnGrouped:
		if err := n.attentionBack(l, b, a, dx, g); err != nil {
			return err
		}
	case model.AttnLinear:
		g.dxn = grow(g.dxn, N*H)
		clear(g.dxn)
		if err := n.projBack(g.dxn, dx, a.xn, N, l, model.ProjAttnLinear, a, g); err != nil {
			return err
		}
	default:
		return nil
	}
	n.rowsDo(N, func(i int) {
		rmsNormBack(dx[i*H:(i+1)*H], g.dxn[i*H:(i+1)*H], a.x0[i*H:(i+1)*H], ly.AttnNorm, a.rA[i])
	})
	return nil
}

// attentionBack leaves in g.dxn the gradient of the attention's normed input for the
// gradient dx of its output.
func (n *Net) attentionBack(l int, b *batch, a *acts, dx []float32, g *grads) error {
	m := n.m
	cfg := m.Config
	ly := &m.Layers[l]
	H, N, hd, heads, kvh := cfg.Hidden, b.n, cfg.HeadDim, cfg.Heads, ly.KVHeads
	qd, kvd, half := heads*hd, kvh*hd, hd/2
	g.dy = grow(g.dy, N*qd)
	do := g.dy
	clear(do)
	if err := n.projBack(do, dx, a.o, N, l, model.ProjO, a, g); err != nil {
		return err
	}
	g.dq, g.dkh, g.dvh = grow(g.dq, N*qd), grow(g.dkh, N*qd), grow(g.dvh, N*qd)
	clear(g.dq)
	clear(g.dkh)
	clear(g.dvh)
	group := heads / kvh
	scale := float32(1 / math.Sqrt(float64(hd)))
	maxLen := 0
	for _, t := range b.len {
		maxLen = max(maxLen, t)
	}
	// Each (example, head) pair writes its own rows of dq, and its own dk and dv
	// ([rows, heads, hd]: summed over each group below).
	n.lin.pool.Run(len(b.start)*heads, func(lo, hi int) {
		scores := make([]float32, maxLen)
		dk := make([]float32, maxLen*hd)
		dv := make([]float32, maxLen*hd)
		lse := make([]float32, maxLen)
		for w := lo; w < hi; w++ {
			e, h := w/heads, w%heads
			st, t := b.start[e], b.len[e]
			gi := h / group
			for i := 0; i < t; i++ {
				lse[i] = a.lse[(st+i)*heads+h]
			}
			clear(dk[:t*hd])
			clear(dv[:t*hd])
			off := st*qd + h*hd
			attnHeadBack(g.dq[off:], dk, dv, do[off:], a.q[off:], a.o[off:], lse, qd,
				a.k[st*kvd+gi*hd:], a.v[st*kvd+gi*hd:], kvd, t, hd, scale, scores)
			for i := 0; i < t; i++ {
				copy(g.dkh[(st+i)*qd+h*hd:(st+i)*qd+(h+1)*hd], dk[i*hd:(i+1)*hd])
				copy(g.dvh[(st+i)*qd+h*hd:(st+i)*qd+(h+1)*hd], dv[i*hd:(i+1)*hd])
			}
		}
	})
	g.dk, g.dv = grow(g.dk, N*kvd), grow(g.dv, N*kvd)
	n.rowsDo(N, func(i int) {
		dk, dv := g.dk[i*kvd:(i+1)*kvd], g.dv[i*kvd:(i+1)*kvd]
		clear(dk)
		clear(dv)
		for h := 0; h < heads; h++ {
			gi := h / group
			kernel.Axpy(1, g.dkh[i*qd+h*hd:i*qd+(h+1)*hd], dk[gi*hd:(gi+1)*hd])
			kernel.Axpy(1, g.dvh[i*qd+h*hd:i*qd+(h+1)*hd], dv[gi*hd:(gi+1)*hd])
		}
		// The backward of a rotation is the rotation by the opposite angle.
		cs, sn := b.cos[i*half:(i+1)*half], make([]float32, half)
		for j, v := range b.sin[i*half : (i+1)*half] {
			sn[j] = -v
		}
		rope(g.dq[i*qd:(i+1)*qd], heads, hd, cs, sn, cfg.RopeInterleaved)
		rope(dk, kvh, hd, cs, sn, cfg.RopeInterleaved)
	})
	g.dxn = grow(g.dxn, N*H)
	clear(g.dxn)
	if err := n.projBack(g.dxn, g.dq, a.xn, N, l, model.ProjQ, a, g); err != nil {
		return err
	}
	if err := n.projBack(g.dxn, g.dk, a.xn, N, l, model.ProjK, a, g); err != nil {
		return err
	}
	return n.projBack(g.dxn, g.dv, a.xn, N, l, model.ProjV, a, g)
}

// head runs the final norm, the classifier and the cross-entropy on the counted rows of
// x (the last layer's output), a chunk of rows at a time, and returns the summed loss.
// With dx not nil it adds the gradient of that loss with respect to x to dx.
func (n *Net) head(b *batch, x, dx []float32) (float64, error) {
	m := n.m
	cfg := m.Config
	H, V := cfg.Hidden, cfg.Vocab
	chunk := max(1, min(len(b.rows), logitElems/V))
	xf := make([]float32, chunk*H)
	rs := make([]float32, chunk)
	logits := make([]float32, chunk*V)
	losses := make([]float64, chunk)
	var dxf []float32
	if dx != nil {
		dxf = make([]float32, chunk*H)
	}
	var total float64
	for lo := 0; lo < len(b.rows); lo += chunk {
		c := min(chunk, len(b.rows)-lo)
		rows, tgts := b.rows[lo:lo+c], b.tgts[lo:lo+c]
		n.rowsDo(c, func(j int) {
			i := rows[j]
			rs[j] = rmsNorm(xf[j*H:(j+1)*H], x[i*H:(i+1)*H], m.Norm, cfg.NormEps)
		})
		if err := n.lin.forward(logits, xf[:c*H], c, m.LMHead); err != nil {
			return 0, fmt.Errorf("train: lm_head: %w", err)
		}
		n.rowsDo(c, func(j int) { losses[j] = crossEntropy(logits[j*V:(j+1)*V], tgts[j]) })
		for _, v := range losses[:c] {
			total += v
		}
		if dx == nil {
			continue
		}
		clear(dxf)
		if err := n.lin.backward(dxf, logits[:c*V], c, m.LMHead); err != nil {
			return 0, fmt.Errorf("train: lm_head: %w", err)
		}
		// Counted rows are distinct, so the rows of dx written in parallel are too.
		n.rowsDo(c, func(j int) {
			i := rows[j]
			rmsNormBack(dx[i*H:(i+1)*H], dxf[j*H:(j+1)*H], x[i*H:(i+1)*H], m.Norm, rs[j])
		})
	}
	if math.IsNaN(total) || math.IsInf(total, 0) {
		return total, fmt.Errorf("train: the loss is %v", total)
	}
	return total, nil
}
