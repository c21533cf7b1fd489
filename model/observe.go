package model

import "github.com/decilm/decilm/tensor"

// Observer sees the input of the weight matrix products of Forward: the weights ws (one
// matrix, or several that multiply the same input, such as a layer's query, key and value
// projections) and the rows rows of x, Cols values each, they multiply. It runs on the
// goroutine that called Forward, before the product, and must neither keep nor change x.
// decilm imatrix gathers llama.cpp's importance matrices with one.
type Observer func(ws []*tensor.Tensor, x []float32, rows int)

// SetObserver makes f (nil: none) see the matrix products of later Forward calls.
func (m *Model) SetObserver(f Observer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.obs = f
}

// observe passes one product's input to the observer, if there is one.
func (m *Model) observe(w *tensor.Tensor, x []float32, rows int, more ...*tensor.Tensor) {
	if m.obs == nil || w == nil {
		return
	}
	m.obs(append([]*tensor.Tensor{w}, more...), x[:rows*w.Cols()], rows)
}
