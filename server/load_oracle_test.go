//go:build oracle

package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/engine"
	"github.com/decilm/decilm/internal/testutil"
	"github.com/decilm/decilm/synth"
)

// streamResult is what one streamed completion gave.
type streamResult struct {
	text   string
	done   bool // ended with data: [DONE]
	chunks int
}

// streamCompletion posts a streaming completion and reads it; with cancelAfter > 0 it
// drops the connection after that many chunks.
func streamCompletion(ctx context.Context, client *http.Client, url, body string, cancelAfter int) (streamResult, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "POST", url, strings.NewReader(body))
	if err != nil {
		return streamResult{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return streamResult{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return streamResult{}, fmt.Errorf("status %d", resp.StatusCode)
	}
	var r streamResult
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		if data == "[DONE]" {
			r.done = true
			break
		}
		var chunk struct {
			Choices []struct {
				Text string `json:"text"`
			} `json:"choices"`
			Error *struct{ Message string } `json:"error"`
		}
		if err := json.Unmarshal([]byte(data), &chunk); err != nil {
			return r, err
		}
		if chunk.Error != nil {
			return r, fmt.Errorf("stream error: %s", chunk.Error.Message)
		}
		for _, c := range chunk.Choices {
			r.text += c.Text
		}
		r.chunks++
		if cancelAfter > 0 && r.chunks >= cancelAfter {
			return r, nil // cancel() drops the connection
		}
	}
	return r, sc.Err()
}

// TestLoad runs 32 concurrent streaming clients × 8 requests against the tiny synth
// model: no failures, every stream ends with [DONE], greedy outputs equal the
// single-request outputs, and clients that hang up free their slots.
func TestLoad(t *testing.T) {
	dir := t.TempDir()
	if err := synth.Presets["tiny"].Write(dir, 1234, testutil.Fixture(t, "llama2-tokenizer", "tokenizer.model"), nil); err != nil {
		t.Fatal(err)
	}
	m, err := decilm.Load(context.Background(), dir, decilm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	f := newFixtureOn(t, m, engine.Options{Parallel: 32}, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	url := f.ts.URL + "/v1/completions"
	prompts := []string{"Hello", "The quick brown fox", "Once upon a time there was", "1 2 3 4 5 6 7 8",
		"A long prompt about the weather, the sea, the mountains and the rivers of the north", "Why", "def main():", "Dear Sir,"}
	body := func(p string) string {
		b, _ := json.Marshal(map[string]any{"prompt": p, "max_tokens": 12, "temperature": 0, "stream": true})
		return string(b)
	}
	// Each prompt alone first.
	want := make([]string, len(prompts))
	for i, p := range prompts {
		r, err := streamCompletion(ctx, client, url, body(p), 0)
		if err != nil || !r.done {
			t.Fatalf("prompt %d alone: %v %+v", i, err, r)
		}
		want[i] = r.text
		ref, err := m.Generate(ctx, p, decilm.GenerateOptions{MaxTokens: 12})
		if err != nil {
			t.Fatal(err)
		}
		if ref.Text != r.text {
			t.Errorf("prompt %d: served %q, Generate %q", i, r.text, ref.Text)
		}
	}
	const clients, perClient = 32, 8
	var failed, cancelled, checked atomic.Int64
	var mu sync.Mutex
	var errs []string
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < perClient; k++ {
				pi := (c + k) % len(prompts)
				hangUp := 0
				if (c*perClient+k)%7 == 3 {
					hangUp = 1 + k%3
				}
				r, err := streamCompletion(ctx, client, url, body(prompts[pi]), hangUp)
				switch {
				case err != nil:
					failed.Add(1)
					mu.Lock()
					errs = append(errs, err.Error())
					mu.Unlock()
				case hangUp > 0:
					cancelled.Add(1)
				case !r.done || r.text != want[pi]:
					failed.Add(1)
					mu.Lock()
					errs = append(errs, fmt.Sprintf("client %d request %d: %q (done %v), alone %q", c, k, r.text, r.done, want[pi]))
					mu.Unlock()
				default:
					checked.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%d requests in %s: %d checked, %d hung up early, %d failed", clients*perClient, time.Since(start).Round(time.Millisecond),
		checked.Load(), cancelled.Load(), failed.Load())
	if failed.Load() > 0 {
		t.Errorf("%d failed requests; first: %v", failed.Load(), errs[:min(len(errs), 5)])
	}
	// The gauges return to zero once the hung-up streams are noticed.
	gauge := func(body, name string) int64 {
		m := regexp.MustCompile(`(?m)^` + name + ` (\d+)$`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no %s in metrics", name)
		}
		v, _ := strconv.ParseInt(m[1], 10, 64)
		return v
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		met := get(t, f.ts.URL+"/metrics", "").body
		q, run, kv := gauge(met, "decilm_queue_depth"), gauge(met, "decilm_running_sequences"), gauge(met, "decilm_kv_cache_reserved_bytes")
		if q == 0 && run == 0 && kv == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gauges did not return to zero: queue %d running %d kv %d", q, run, kv)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st := f.e.Stats(); st.KVBytes != 0 {
		t.Errorf("the cache still holds %d bytes", st.KVBytes)
	}
}
