package server

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"testing"

	"github.com/decilm/decilm/engine"
)

type embeddingsResponse struct {
	Data []struct {
		Index     int
		Embedding json.RawMessage
	}
	Usage struct {
		PromptTokens int `json:"prompt_tokens"`
	}
}

// TestEmbeddings checks /v1/embeddings' shape and properties: unit length, the same
// vector for the same text alone or in a list, as floats or base64, and different vectors
// for different texts. (No independent reference is checked here: python3-torch is not
// installed on the machine this was written on.)
func TestEmbeddings(t *testing.T) {
	f := newFixture(t, engine.Options{}, Options{})
	H := f.m.Net.Config.Hidden
	post := func(body string) embeddingsResponse {
		r := postJSON(t, f.ts.URL+"/v1/embeddings", "", body)
		var out embeddingsResponse
		if err := json.Unmarshal([]byte(r.body), &out); err != nil || r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		return out
	}
	vec := func(raw json.RawMessage) []float32 {
		var v []float32
		if err := json.Unmarshal(raw, &v); err != nil {
			var s string
			if json.Unmarshal(raw, &s) != nil {
				t.Fatalf("embedding %s", raw)
			}
			b, _ := base64.StdEncoding.DecodeString(s)
			for i := 0; i+4 <= len(b); i += 4 {
				v = append(v, math.Float32frombits(binary.LittleEndian.Uint32(b[i:])))
			}
		}
		return v
	}
	one := post(`{"input":"Once upon a time"}`)
	many := post(`{"input":["The cat sat.","Once upon a time"],"encoding_format":"base64"}`)
	a := vec(one.Data[0].Embedding)
	b, c := vec(many.Data[0].Embedding), vec(many.Data[1].Embedding)
	if len(a) != H || len(b) != H || many.Data[1].Index != 1 {
		t.Fatalf("lengths %d %d, want %d", len(a), len(b), H)
	}
	var n, diff, same float64
	for i := range a {
		n += float64(a[i]) * float64(a[i])
		diff += math.Abs(float64(a[i] - b[i]))
		same = math.Max(same, math.Abs(float64(a[i]-c[i])))
	}
	if math.Abs(n-1) > 1e-5 || diff < 1e-3 || same > 1e-6 {
		t.Errorf("|a|² = %v, |a-b|₁ = %v (want > 0), max|a-c| = %v (want 0)", n, diff, same)
	}
	if want := len(f.m.Encode("Once upon a time", nil)); one.Usage.PromptTokens != want {
		t.Errorf("usage %d tokens, want %d", one.Usage.PromptTokens, want)
	}
	for _, body := range []string{`{"input":"x","dimensions":3}`, `{"input":{"a":1}}`, `{"input":"x","encoding_format":"int8"}`} {
		if r := postJSON(t, f.ts.URL+"/v1/embeddings", "", body); r.status != 400 {
			t.Errorf("%s: %d %s", body, r.status, r.body)
		}
	}
}
