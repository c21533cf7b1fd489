package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

func init() {
	register(&command{name: "loadgen", summary: "drive an OpenAI-compatible server with concurrent streaming clients and report throughput", run: runLoadgen})
}

// loadgenResult is one streamed request's measurements.
type loadgenResult struct {
	ttft   time.Duration
	total  time.Duration
	tokens int
	err    error
}

func runLoadgen(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "loadgen", "--url http://127.0.0.1:8080 [--clients 1,4,16] [--requests N] [--max-tokens N] [--prompt TEXT]\n\n"+
		"Each client sends streaming POST /v1/completions requests (temperature 0, ignore_eos) one after\n"+
		"another; for each client count it prints the aggregate generated tokens/s, the p50/p99\n"+
		"time to first token and tok/s/stream, the aggregate divided by the clients. Works against decilm serve and llama.cpp's llama-server alike.")
	url := fs.String("url", "http://127.0.0.1:8080", "server base URL")
	clientsFlag := fs.String("clients", "1,4,16", "comma-separated concurrent client counts, one run each")
	requests := fs.Int("requests", 4, "requests per client in each run")
	maxTokens := fs.Int("max-tokens", 128, "tokens to generate per request (ignore_eos keeps the length fixed)")
	prompt := fs.String("prompt", "Once upon a time, in a small village at the edge of a great forest, there lived", "prompt of every request")
	model := fs.String("model", "", "model field of the requests (default: the first of GET /v1/models)")
	apiKey := fs.String("api-key", "", "bearer token")
	timeout := fs.Duration("timeout", 10*time.Minute, "limit for each run")
	warmup := fs.Bool("warmup", true, "send one request before measuring")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var counts []int
	for _, f := range strings.Split(*clientsFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 4096 {
			return usageError("--clients %q: want positive integers separated by commas", *clientsFlag)
		}
		counts = append(counts, n)
	}
	if *requests < 1 || *maxTokens < 1 {
		return usageError("--requests and --max-tokens must be positive")
	}
	base := strings.TrimRight(*url, "/")
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4096, MaxConnsPerHost: 0}}
	if *model == "" {
		name, err := loadgenModel(ctx, client, base, *apiKey)
		if err != nil {
			return err
		}
		*model = name
	}
	body, _ := json.Marshal(map[string]any{
		"model": *model, "prompt": *prompt, "max_tokens": *maxTokens, "temperature": 0,
		"stream": true, "ignore_eos": true, "stream_options": map[string]any{"include_usage": true},
	})
	if *warmup {
		if r := loadgenOne(ctx, client, base, *apiKey, body); r.err != nil {
			return fmt.Errorf("warm-up request: %w", r.err)
		}
	}
	fmt.Fprintf(e.stdout, "server %s, model %s, %d requests per client, %d tokens each\n", base, *model, *requests, *maxTokens)
	fmt.Fprintf(e.stdout, "%8s %9s %9s %10s %12s %12s %12s %14s\n", "clients", "requests", "failed", "wall s", "gen tok/s", "TTFT p50 ms", "TTFT p99 ms", "tok/s/stream")
	for _, n := range counts {
		rctx, cancel := context.WithTimeout(ctx, *timeout)
		results := make([]loadgenResult, 0, n**requests)
		var mu sync.Mutex
		var wg sync.WaitGroup
		start := time.Now()
		for c := 0; c < n; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := 0; k < *requests; k++ {
					r := loadgenOne(rctx, client, base, *apiKey, body)
					mu.Lock()
					results = append(results, r)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		wall := time.Since(start)
		cancel()
		var ttfts []float64
		tokens, failed := 0, 0
		for _, r := range results {
			if r.err != nil {
				failed++
				if failed == 1 {
					fmt.Fprintf(e.stderr, "loadgen: %v\n", r.err)
				}
				continue
			}
			tokens += r.tokens
			ttfts = append(ttfts, r.ttft.Seconds()*1000)
		}
		// tok/s/stream is the aggregate divided by the concurrent streams, so it never
		// exceeds the aggregate.
		agg := float64(tokens) / wall.Seconds()
		fmt.Fprintf(e.stdout, "%8d %9d %9d %10.2f %12.1f %12.1f %12.1f %14.1f\n", n, len(results), failed, wall.Seconds(),
			agg, loadgenPercentile(ttfts, 50), loadgenPercentile(ttfts, 99), agg/float64(n))
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// loadgenPercentile is the nearest-rank percentile of xs (0 for none).
func loadgenPercentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	i := int(float64(len(s))*p/100+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func loadgenModel(ctx context.Context, client *http.Client, base, key string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/v1/models", nil)
	if err != nil {
		return "", err
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", fmt.Errorf("GET %s/v1/models: %v", base, err)
	}
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("GET %s/v1/models: status %d: %s", base, resp.StatusCode, loadgenErrorText(b))
	}
	var list struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &list); err != nil || len(list.Data) == 0 {
		return "", fmt.Errorf("GET %s/v1/models: no model in the answer %.200q", base, b)
	}
	return list.Data[0].ID, nil
}

// loadgenErrorText is the message of an OpenAI-style error body, or the body itself.
func loadgenErrorText(b []byte) string {
	var e struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error.Message != "" {
		return e.Error.Message
	}
	if len(b) > 200 {
		b = b[:200]
	}
	return strings.TrimSpace(string(b))
}

// loadgenOne sends one streaming completion and measures it. Tokens are the usage
// count when the server sends one, else the chunks that carry text.
func loadgenOne(ctx context.Context, client *http.Client, base, key string, body []byte) loadgenResult {
	var r loadgenResult
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, "POST", base+"/v1/completions", strings.NewReader(string(body)))
	if err != nil {
		r.err = err
		return r
	}
	req.Header.Set("Content-Type", "application/json")
	// Marks the request as safe to resend, so that net/http retries it when the server
	// closed an idle keep-alive connection just as it was reused (llama-server does).
	req.Header.Set("Idempotency-Key", fmt.Sprint(time.Now().UnixNano()))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := client.Do(req)
	if err != nil {
		r.err = err
		return r
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		r.err = fmt.Errorf("status %d: %s", resp.StatusCode, loadgenErrorText(b))
		return r
	}
	chunks, usage, done := 0, -1, false
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if strings.TrimSpace(data) == "[DONE]" {
			done = true
			break
		}
		var ch struct {
			Choices []struct {
				Text string `json:"text"`
			} `json:"choices"`
			Usage *struct {
				CompletionTokens int `json:"completion_tokens"`
			} `json:"usage"`
			Error *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal([]byte(data), &ch); err != nil {
			r.err = fmt.Errorf("bad chunk %q: %v", data, err)
			return r
		}
		if ch.Error != nil {
			r.err = fmt.Errorf("stream error: %s", ch.Error.Message)
			return r
		}
		if ch.Usage != nil && ch.Usage.CompletionTokens > 0 {
			usage = ch.Usage.CompletionTokens
		}
		for _, c := range ch.Choices {
			if c.Text != "" {
				if chunks == 0 {
					r.ttft = time.Since(start)
				}
				chunks++
			}
		}
	}
	if err := sc.Err(); err != nil {
		r.err = err
		return r
	}
	if !done {
		r.err = fmt.Errorf("stream ended without [DONE]")
		return r
	}
	r.total = time.Since(start)
	r.tokens = chunks
	if usage >= 0 {
		r.tokens = usage
	}
	return r
}
