package train

import (
	"math"

	"github.com/decilm/decilm/kernel"
)

// The operations of the transformer, each with its backward. They are generic over the
// element type so that the tests run the very same code in float64 against central finite
// differences; Net uses the float32 versions, whose inner products go to the kernel
// package's vector code.

// num is the element type of the operations.
type num interface{ ~float32 | ~float64 }

// dot returns Σ a[i]·b[i] over len(a) elements.
func dot[T num](a, b []T) T {
	if a32, ok := any(a).([]float32); ok {
		return T(kernel.Dot(a32, any(b).([]float32)))
	}
	b = b[:len(a)]
	var s T
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

// axpy adds a·x to y over len(x) elements.
func axpy[T num](a T, x, y []T) {
	if x32, ok := any(x).([]float32); ok {
		kernel.Axpy(float32(a), x32, any(y).([]float32))
		return
	}
	y = y[:len(x)]
	for i, v := range x {
		y[i] += a * v
	}
}

// rmsNorm writes x·r·w to out, r = 1/sqrt(mean(x²)+eps), and returns r (saved for the
// backward).
func rmsNorm[T num](out, x, w []T, eps float64) T {
	var ss float64
	for _, v := range x {
		ss += float64(v) * float64(v)
	}
	r := T(1 / math.Sqrt(ss/float64(len(x))+eps))
	for i, v := range x {
		out[i] = v * r * w[i]
	}
	return r
}

// rmsNormBack adds to dx the gradient of rmsNorm's output dy at input x (r as rmsNorm
// returned): dx_i += r·w_i·dy_i − r³·x_i·Σ_j(dy_j·w_j·x_j)/n.
func rmsNormBack[T num](dx, dy, x, w []T, r T) {
	var s float64
	for i, v := range x {
		s += float64(dy[i]) * float64(w[i]) * float64(v)
	}
	c := T(float64(r) * float64(r) * float64(r) * s / float64(len(x)))
	for i, v := range x {
		dx[i] += r*w[i]*dy[i] - c*v
	}
}

// rope rotates each of the heads (headDim values each) of x by the angles whose cosines and
// sines are given (headDim/2 each), in the rotate-half (interleaved false) or adjacent-pair
// layout, as kernel.RoPE does. Rotating by the negated sines undoes it: the backward.
func rope[T num](x []T, heads, headDim int, cos, sin []T, interleaved bool) {
	half := headDim / 2
	for h := 0; h < heads; h++ {
		v := x[h*headDim : (h+1)*headDim]
		for i := 0; i < half; i++ {
			ia, ib := i, i+half
			if interleaved {
				ia, ib = 2*i, 2*i+1
			}
			a, b := v[ia], v[ib]
			v[ia] = a*cos[i] - b*sin[i]
			v[ib] = a*sin[i] + b*cos[i]
		}
	}
}

// sigmoid is 1/(1+e^-x).
func sigmoid[T num](x T) T { return T(1 / (1 + math.Exp(-float64(x)))) }

// siluMul writes silu(g)·u to out (the SwiGLU activation).
func siluMul[T num](out, g, u []T) {
	for i, v := range g {
		out[i] = v * sigmoid(v) * u[i]
	}
}

// siluMulBack sets dg and du from the gradient da of silu(g)·u: du = da·silu(g),
// dg = da·u·σ(g)·(1 + g·(1−σ(g))). dg and du may alias da.
func siluMulBack[T num](dg, du, da, g, u []T) {
	for i, v := range g {
		s := sigmoid(v)
		d := da[i]
		dg[i], du[i] = d*u[i]*s*(1+v*(1-s)), d*v*s
	}
}

// attnHead computes causal attention for one query head over one sequence of t rows: q
// holds the (rotated) queries with stride qs, k and v the key and value rows of the head's
// key/value head with stride ks, out receives the outputs with stride qs, and lse the
// log-sum-exp of each row's scaled scores (saved, so that the backward recomputes the
// probabilities without storing them). scores is scratch of at least t values.
func attnHead[T num](out, lse, q []T, qs int, k, v []T, ks, t, hd int, scale T, scores []T) {
	for i := 0; i < t; i++ {
		qi := q[i*qs : i*qs+hd]
		s := scores[:i+1]
		mx := T(math.Inf(-1))
		for j := range s {
			s[j] = dot(qi, k[j*ks:j*ks+hd]) * scale
			mx = max(mx, s[j])
		}
		var sum float64
		for j, x := range s {
			e := T(math.Exp(float64(x - mx)))
			s[j] = e
			sum += float64(e)
		}
		inv := T(1 / sum)
		o := out[i*qs : i*qs+hd]
		clear(o)
		for j, e := range s {
			axpy(e*inv, v[j*ks:j*ks+hd], o)
		}
		lse[i] = mx + T(math.Log(sum))
	}
}

// attnHeadBack is the backward of attnHead: given the gradient do of the outputs (stride
// qs), it adds the gradient of q to dq (stride qs) and of k and v to dk and dv (stride
// hd: this head's own buffers, summed over the heads of a group by the caller). The
// probabilities are recomputed from q, k and lse. scores is scratch of t values.
func attnHeadBack[T num](dq, dk, dv, do, q, o, lse []T, qs int, k, v []T, ks, t, hd int, scale T, scores []T) {
	for i := 0; i < t; i++ {
		qi := q[i*qs : i*qs+hd]
		doi := do[i*qs : i*qs+hd]
		p := scores[:i+1]
		for j := range p {
			p[j] = T(math.Exp(float64(dot(qi, k[j*ks:j*ks+hd])*scale - lse[i])))
		}
		// dS_j = p_j·(dP_j − Σ p·dP) with dP_j = do·v_j, and Σ p·dP = do·o.
		di := dot(doi, o[i*qs:i*qs+hd])
		dqi := dq[i*qs : i*qs+hd]
		for j, pj := range p {
			axpy(pj, doi, dv[j*hd:(j+1)*hd])
			ds := pj * (dot(doi, v[j*ks:j*ks+hd]) - di) * scale
			axpy(ds, k[j*ks:j*ks+hd], dqi)
			axpy(ds, qi, dk[j*hd:(j+1)*hd])
		}
	}
}

// crossEntropy replaces the logits z of one row by their gradient softmax(z) − onehot(target)
// and returns the loss logsumexp(z) − z[target].
func crossEntropy[T num](z []T, target int) float64 {
	z0 := z[target]
	mx := math.Inf(-1)
	for _, v := range z {
		mx = max(mx, float64(v))
	}
	var sum float64
	for i, v := range z {
		e := math.Exp(float64(v) - mx)
		z[i] = T(e)
		sum += e
	}
	loss := mx + math.Log(sum) - float64(z0)
	inv := 1 / sum
	for i, v := range z {
		z[i] = T(float64(v) * inv)
	}
	z[target]--
	return loss
}

// dense computes y = x·wᵀ for m rows of x (k values each) and a dense [n, k] matrix w.
func dense[T num](y, x, w []T, m, n, k int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			y[i*n+j] = dot(x[i*k:(i+1)*k], w[j*k:(j+1)*k])
		}
	}
}

// loraForward adds s·(x·Aᵀ)·Bᵀ to y for m rows, with A [r, in] and B [out, r], keeping
// u = x·Aᵀ ([m, r]) for the backward.
func loraForward[T num](y, u, x, a, b []T, m, in, out, r int, s T) {
	dense(u[:m*r], x, a, m, r, in)
	for i := 0; i < m; i++ {
		ui := u[i*r : (i+1)*r]
		yi := y[i*out : (i+1)*out]
		for o := 0; o < out; o++ {
			yi[o] += s * dot(ui, b[o*r:(o+1)*r])
		}
	}
}

// loraBackward adds the gradients of loraForward for the output gradient dy: to dx
// (s·dy·B·A), to dA (duᵀ·x with du = s·dy·B) and to dB (s·dyᵀ·u). du is scratch of m·r.
func loraBackward[T num](dx, da, db, du, dy, x, u, a, b []T, m, in, out, r int, s T) {
	du = du[:m*r]
	clear(du)
	for i := 0; i < m; i++ {
		dyi := dy[i*out : (i+1)*out]
		dui := du[i*r : (i+1)*r]
		ui := u[i*r : (i+1)*r]
		for o, g := range dyi {
			if g == 0 {
				continue
			}
			axpy(s*g, b[o*r:(o+1)*r], dui)
			axpy(s*g, ui, db[o*r:(o+1)*r])
		}
		xi := x[i*in : (i+1)*in]
		for c, g := range dui {
			axpy(g, xi, da[c*in:(c+1)*in])
			if dx != nil {
				axpy(g, a[c*in:(c+1)*in], dx[i*in:(i+1)*in])
			}
		}
	}
}
