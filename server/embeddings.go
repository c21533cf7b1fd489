package server

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"

	"github.com/decilm/decilm/engine"
	"github.com/decilm/decilm/model"
)

// handleEmbeddings is OpenAI's POST /v1/embeddings: each input (a string, a list of
// strings, a list of token ids or a list of such lists) becomes the mean over its tokens
// (BOS included) of the model's final hidden state (after the last norm), scaled to unit
// L2 length. The pass runs beside the engine's batches on its own cache.
func (s *Server) handleEmbeddings(w http.ResponseWriter, r *http.Request, e *engine.Engine) error {
	var req struct {
		Model          string          `json:"model"`
		Input          json.RawMessage `json:"input"`
		EncodingFormat string          `json:"encoding_format"`
		Dimensions     *int            `json:"dimensions"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	ad, err := s.lookupModel(req.Model, e)
	if err != nil {
		return err
	}
	H := e.Model().Net.Config.Hidden
	if req.Dimensions != nil && *req.Dimensions != H {
		return badRequest("dimensions", "dimensions is %d; this model's embeddings have %d", *req.Dimensions, H)
	}
	if req.EncodingFormat != "" && req.EncodingFormat != "float" && req.EncodingFormat != "base64" {
		return badRequest("encoding_format", "encoding_format %q is not float or base64", req.EncodingFormat)
	}
	inputs, _, err := s.parsePrompt(e, req.Input)
	if err != nil {
		if ae, ok := err.(*apiError); ok && ae.param == "prompt" {
			ae.param = "input"
		}
		return err
	}
	data := make([]map[string]any, len(inputs))
	total := 0
	for i, ids := range inputs {
		if len(ids) > e.ContextLength() {
			return s.overflow(e.ContextLength(), len(ids), 0)
		}
		if err := r.Context().Err(); err != nil {
			return nil // the client left
		}
		v, err := embedding(e, ids, ad)
		if err != nil {
			return err
		}
		total += len(ids)
		var out any = v
		if req.EncodingFormat == "base64" {
			b := make([]byte, 4*len(v))
			for j, x := range v {
				binary.LittleEndian.PutUint32(b[4*j:], math.Float32bits(x))
			}
			out = base64.StdEncoding.EncodeToString(b)
		}
		data[i] = map[string]any{"object": "embedding", "index": i, "embedding": out}
	}
	writeJSON(w, map[string]any{"object": "list", "data": data, "model": s.responseModel(req.Model, e),
		"usage": map[string]int{"prompt_tokens": total, "total_tokens": total}})
	return nil
}

// embedding runs ids through the model and returns the unit-length mean of the final hidden
// states.
func embedding(e *engine.Engine, ids []int, ad *model.Adapter) ([]float32, error) {
	net := e.Model().Net
	H := net.Config.Hidden
	cache := model.NewCache(net.Config, len(ids))
	b := model.Batch{Hidden: make([]float32, len(ids)*H)}
	for p, t := range ids {
		b.Add(0, p, t, true)
		b.Adapter = append(b.Adapter, ad)
	}
	if _, err := net.Forward(&b, cache); err != nil {
		return nil, fmt.Errorf("embeddings: %w", err)
	}
	sum := make([]float64, H)
	for p := range ids {
		for j, x := range b.Hidden[p*H : (p+1)*H] {
			sum[j] += float64(x)
		}
	}
	var norm float64
	for j := range sum {
		sum[j] /= float64(len(ids))
		norm += sum[j] * sum[j]
	}
	norm = math.Sqrt(norm)
	v := make([]float32, H)
	for j := range v {
		if norm > 0 {
			v[j] = float32(sum[j] / norm)
		}
	}
	return v, nil
}
