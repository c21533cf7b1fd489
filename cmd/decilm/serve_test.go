package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// serveBuffer is a goroutine-safe output buffer.
type serveBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *serveBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *serveBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServe runs "decilm serve" with args on a free loopback port and returns its base
// URL, the function that stops it (as SIGTERM does) and the exit status channel.
func startServe(t *testing.T, args ...string) (string, context.CancelFunc, <-chan int, *serveBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &serveBuffer{}
	rc := make(chan int, 1)
	go func() {
		rc <- runMain(ctx, &env{stdin: strings.NewReader(""), stdout: out, stderr: out}, append([]string{"serve", "--port", "0"}, args...))
	}()
	addr := regexp.MustCompile(`listening on (http://\S+)`)
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(out.String(), "ready:") {
		select {
		case code := <-rc:
			cancel()
			t.Fatalf("serve exited with %d:\n%s", code, out.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("serve not ready within 15 s:\n%s", out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	m := addr.FindStringSubmatch(out.String())
	if m == nil {
		cancel()
		t.Fatalf("no address in:\n%s", out.String())
	}
	t.Cleanup(cancel)
	return m[1], cancel, rc, out
}

func serveRequest(t *testing.T, method, url, key, body string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.Header.Set("Content-Type", "application/json")
	return http.DefaultClient.Do(req)
}

// TestServeGracefulShutdown starts the server on the embedded model, streams a
// completion, stops the server in the middle of it and wants the stream to finish with
// [DONE], the exit status 0 and the port closed.
func TestServeGracefulShutdown(t *testing.T) {
	base, stop, rc, out := startServe(t, "--api-key", "k1", "--parallel", "4")
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Errorf("listens on %s, want loopback", base)
	}
	resp, err := serveRequest(t, "GET", base+"/health", "", "")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("health: %v %v", err, resp)
	}
	resp.Body.Close()
	if resp, _ := serveRequest(t, "GET", base+"/v1/models", "wrong", ""); resp == nil || resp.StatusCode != 401 {
		t.Errorf("wrong key: %v", resp)
	}
	resp, err = serveRequest(t, "POST", base+"/v1/completions", "k1", `{"prompt":"Once upon a time","max_tokens":400,"ignore_eos":true,"stream":true,"temperature":0}`)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("completion: %v %v", err, resp)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "data: {") {
		t.Fatalf("first line %q %v", line, err)
	}
	stop() // what SIGTERM does
	rest, err := io.ReadAll(br)
	if err != nil || !strings.HasSuffix(string(rest), "data: [DONE]\n\n") {
		t.Errorf("stream after shutdown began: %v, ends %q", err, tail(string(rest)))
	}
	select {
	case code := <-rc:
		if code != 0 {
			t.Errorf("exit status %d:\n%s", code, out.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not exit within 15 s")
	}
	if _, err := serveRequest(t, "GET", base+"/health", "", ""); err == nil {
		t.Error("the port still answers after shutdown")
	}
}

func tail(s string) string {
	if len(s) > 200 {
		return "…" + s[len(s)-200:]
	}
	return s
}

func TestServeUsage(t *testing.T) {
	cases := [][]string{
		{"serve", "--kv-budget", "lots"},
		{"serve", "--parallel", "0"},
		{"serve", "--port", "70000"},
		{"serve", "extra"},
	}
	for _, args := range cases {
		var out bytes.Buffer
		if code := runMain(context.Background(), &env{stdout: &out, stderr: &out}, args); code != 2 {
			t.Errorf("%q: exit %d, want 2: %s", args, code, out.String())
		}
	}
	for _, c := range []struct {
		in   string
		want int64
	}{{"", 0}, {"1024", 1024}, {"2GiB", 2 << 30}, {"512MB", 512e6}, {"1.5G", 3 << 29}, {"64 KiB", 64 << 10}} {
		if got, err := serveParseBytes(c.in); err != nil || got != c.want {
			t.Errorf("serveParseBytes(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
}

// TestLoadgen drives a served embedded model with the load generator.
func TestLoadgen(t *testing.T) {
	base, _, _, _ := startServe(t, "--parallel", "4")
	var out, errOut bytes.Buffer
	code := runMain(context.Background(), &env{stdout: &out, stderr: &errOut},
		[]string{"loadgen", "--url", base, "--clients", "1,4", "--requests", "2", "--max-tokens", "16"})
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, out.String(), errOut.String())
	}
	rows := regexp.MustCompile(`(?m)^\s+(\d+)\s+(\d+)\s+(\d+)\s+[\d.]+\s+([\d.]+)`).FindAllStringSubmatch(out.String(), -1)
	if len(rows) != 2 {
		t.Fatalf("output:\n%s", out.String())
	}
	for i, want := range []string{"2", "8"} {
		if rows[i][2] != want || rows[i][3] != "0" || rows[i][4] == "0.0" {
			t.Errorf("row %q: want %s requests, 0 failed, tokens/s > 0", rows[i][0], want)
		}
	}
	for _, c := range []struct {
		xs   []float64
		p    float64
		want float64
	}{{nil, 50, 0}, {[]float64{3, 1, 2}, 50, 2}, {[]float64{1, 2, 3, 4}, 50, 2}, {[]float64{5, 1, 4, 2, 3}, 99, 5}, {[]float64{7}, 99, 7}} {
		if got := loadgenPercentile(c.xs, c.p); got != c.want {
			t.Errorf("percentile %v of %v = %v, want %v", c.p, c.xs, got, c.want)
		}
	}
}

func FuzzServeParseBytes(f *testing.F) {
	for _, s := range []string{"", "1", "2GiB", "512MB", "1.5G", "64 KiB", "-1", "1e30", "NaNGB", "GiB", "0x10"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := serveParseBytes(s)
		if err == nil && v < 0 {
			t.Fatalf("serveParseBytes(%q) = %d", s, v)
		}
	})
}

// TestServeHelperProcess is not a test: TestServeSignals runs the test binary as a
// "decilm serve" process through it, with SIGTERM wired as main wires it.
func TestServeHelperProcess(t *testing.T) {
	if os.Getenv("DECILM_SERVE_HELPER") != "1" {
		return
	}
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	os.Exit(runMain(ctx, &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}, args))
}

// TestServeSignals sends SIGTERM and SIGINT to a serving process in the middle of a
// stream: the stream finishes with [DONE] and the process exits 0.
func TestServeSignals(t *testing.T) {
	for _, sig := range []os.Signal{syscall.SIGTERM, os.Interrupt} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestServeHelperProcess$", "--", "serve", "--port", "0")
			cmd.Env = append(os.Environ(), "DECILM_SERVE_HELPER=1")
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			killer := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
			defer killer.Stop()
			lines := make(chan string, 100)
			go func() {
				sc := bufio.NewScanner(stderr)
				for sc.Scan() {
					lines <- sc.Text()
				}
				close(lines)
			}()
			var base string
			timeout := time.After(15 * time.Second)
			for ready := false; !ready; {
				select {
				case l, ok := <-lines:
					if !ok {
						t.Fatal("serve exited before it was ready")
					}
					if m := regexp.MustCompile(`listening on (http://\S+)`).FindStringSubmatch(l); m != nil {
						base = m[1]
					}
					ready = strings.Contains(l, "ready:")
				case <-timeout:
					t.Fatal("serve not ready within 15 s")
				}
			}
			resp, err := serveRequest(t, "POST", base+"/v1/completions", "", `{"prompt":"Once upon a time","max_tokens":400,"ignore_eos":true,"stream":true}`)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("completion: %v %v", err, resp)
			}
			defer resp.Body.Close()
			br := bufio.NewReader(resp.Body)
			br.ReadString('\n')
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			rest, _ := io.ReadAll(br)
			if !strings.HasSuffix(string(rest), "data: [DONE]\n\n") {
				t.Errorf("stream ends %q", tail(string(rest)))
			}
			var log []string
			for l := range lines {
				log = append(log, l)
			}
			if err := cmd.Wait(); err != nil {
				t.Errorf("exit: %v\n%s", err, strings.Join(log, "\n"))
			}
			if !strings.Contains(strings.Join(log, "\n"), "stopped") {
				t.Errorf("log:\n%s", strings.Join(log, "\n"))
			}
		})
	}
}
