//go:build oracle

package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/chat"
	"github.com/decilm/decilm/engine"
	"github.com/decilm/decilm/internal/testutil"
)

// webDriver speaks the W3C WebDriver protocol to a chromedriver.
type webDriver struct {
	t       *testing.T
	base    string // http://127.0.0.1:PORT
	session string
}

func (d *webDriver) call(method, path string, body any) json.RawMessage {
	d.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	url := d.base + path
	if d.session != "" && path != "/session" {
		url = d.base + "/session/" + d.session + path
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatalf("webdriver %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var out struct {
		Value json.RawMessage `json:"value"`
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &out); err != nil || resp.StatusCode != 200 {
		d.t.Fatalf("webdriver %s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return out.Value
}

func (d *webDriver) element(css string) string {
	d.t.Helper()
	var el map[string]string
	json.Unmarshal(d.call("POST", "/element", map[string]string{"using": "css selector", "value": css}), &el)
	for _, v := range el {
		return v
	}
	d.t.Fatalf("no element %s", css)
	return ""
}

func (d *webDriver) script(js string, out any) {
	d.t.Helper()
	v := d.call("POST", "/execute/sync", map[string]any{"script": js, "args": []any{}})
	if err := json.Unmarshal(v, out); err != nil {
		d.t.Fatalf("script result %s: %v", v, err)
	}
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startBrowser starts chromedriver and a headless Chromium on a phone-sized screen; both
// end with the test.
func startBrowser(t *testing.T) *webDriver {
	driverPath, err := exec.LookPath("chromedriver")
	if err != nil {
		t.Fatal("chromedriver not found: install the Debian packages chromium and chromium-driver (apt-get install -y chromium chromium-driver)")
	}
	browser := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			browser = p
			break
		}
	}
	if browser == "" {
		t.Fatal("chromium not found: install the Debian packages chromium and chromium-driver (apt-get install -y chromium chromium-driver)")
	}
	port := freePort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, driverPath, fmt.Sprintf("--port=%d", port), "--allowed-ips=127.0.0.1")
	var drvLog bytes.Buffer
	cmd.Stdout, cmd.Stderr = &drvLog, &drvLog
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	d := &webDriver{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", port)}
	for deadline := time.Now().Add(15 * time.Second); ; {
		resp, err := http.Get(d.base + "/status")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("chromedriver did not start: %v\n%s", err, drvLog.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	profile := t.TempDir()
	caps := map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"browserName": "chrome",
		"goog:chromeOptions": map[string]any{
			"binary": browser,
			"args": []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
				"--disable-background-networking", "--disable-component-update", "--disable-sync",
				"--disable-dev-shm-usage", "--user-data-dir=" + profile},
			// A phone: 390×844 CSS pixels.
			"mobileEmulation": map[string]any{"deviceMetrics": map[string]any{"width": 390, "height": 844, "pixelRatio": 1, "touch": true}},
		},
	}}}
	var sess struct {
		SessionID string `json:"sessionId"`
	}
	json.Unmarshal(d.call("POST", "/session", caps), &sess)
	if sess.SessionID == "" {
		t.Fatal("no webdriver session")
	}
	d.session = sess.SessionID
	t.Cleanup(func() { d.call("DELETE", "", nil) })

	return d
}

// TestBrowserChat drives headless Chromium through chromedriver: it loads the chat page
// on a phone-sized window, sends a message, waits for the streamed answer, compares it
// with the model's own greedy reply and saves a screenshot.
func TestBrowserChat(t *testing.T) {
	// The tiny random DeciLM is slow enough (a few ms a token) for the answer to arrive
	// in many pieces.
	m, err := decilm.Load(context.Background(), testutil.Fixture(t, "tiny-decilm"), decilm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	f := newFixtureOn(t, m, engine.Options{}, Options{})
	d := startBrowser(t)
	d.call("POST", "/url", map[string]string{"url": f.ts.URL + "/"})
	// Greedy, so the answer can be checked against the model: open Settings like a user.
	d.call("POST", "/element/"+d.element("#settings summary")+"/click", map[string]any{})
	temp := d.element("#temperature")
	d.call("POST", "/element/"+temp+"/clear", map[string]any{})
	d.call("POST", "/element/"+temp+"/value", map[string]string{"text": "0"})
	mt := d.element("#max_tokens")
	d.call("POST", "/element/"+mt+"/clear", map[string]any{})
	d.call("POST", "/element/"+mt+"/value", map[string]string{"text": "120"})
	in := d.element("#input")
	d.call("POST", "/element/"+in+"/value", map[string]string{"text": "Once upon a time"})
	// Count the page's updates of the conversation, to see the answer arrive in pieces.
	var ok bool
	d.script(`window.updates = 0; new MutationObserver(() => window.updates++).observe(
		document.getElementById("log"), {subtree: true, childList: true, characterData: true}); return true;`, &ok)
	d.call("POST", "/element/"+d.element("#send")+"/click", map[string]any{})

	var state struct {
		State, Answer, Stats, Model string
		Overflow                    bool
		Width, Updates              int
	}
	for deadline := time.Now().Add(20 * time.Second); ; {
		d.script(`const a = document.querySelectorAll(".msg.assistant"), s = document.querySelectorAll(".stats");
			return {State: document.getElementById("status").dataset.state,
				Answer: a.length ? a[a.length-1].textContent : "", Stats: s.length ? s[s.length-1].textContent : "",
				Model: document.getElementById("model").textContent,
				Overflow: document.documentElement.scrollWidth > window.innerWidth, Width: window.innerWidth, Updates: window.updates};`, &state)
		if state.State == "done" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no answer within 20 s: %+v", state)
		}
		time.Sleep(50 * time.Millisecond)
	}
	ref, err := f.m.Chat(context.Background(), []chat.Message{{Role: "user", Content: "Once upon a time"}}, decilm.GenerateOptions{MaxTokens: 120})
	if err != nil {
		t.Fatal(err)
	}
	if state.Answer != ref.Text || ref.Text == "" {
		t.Errorf("page shows %q, the model answers %q", state.Answer, ref.Text)
	}
	if state.Updates < 5 {
		t.Errorf("the answer arrived in %d page updates; a streamed one takes many", state.Updates)
	}
	if !strings.Contains(state.Stats, "tokens/s") || !strings.Contains(state.Model, f.m.Name) {
		t.Errorf("stats %q, model %q", state.Stats, state.Model)
	}
	if state.Overflow || state.Width != 390 {
		t.Errorf("on a phone-sized screen (width %d, want 390) the page scrolls sideways: %v", state.Width, state.Overflow)
	}
	var png string
	json.Unmarshal(d.call("GET", "/screenshot", nil), &png)
	img, err := base64.StdEncoding.DecodeString(png)
	if err != nil || !bytes.HasPrefix(img, []byte("\x89PNG")) {
		t.Fatalf("screenshot: %v", err)
	}
	dir := os.Getenv("DECILM_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "server-chat-page.png")
	if err := os.WriteFile(path, img, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("answer %q in %d updates; %s; screenshot %s", state.Answer, state.Updates, state.Stats, path)
}

// TestBrowserChatTrims: with the default model (a 512-token context) and the page's
// default max_tokens of 256, a second turn after a long first one used to fail (the
// history and max_tokens overflow the context). The page must drop old turns or clamp
// max_tokens, say so, and answer.
func TestBrowserChatTrims(t *testing.T) {
	f := newFixture(t, engine.Options{}, Options{})
	d := startBrowser(t)
	d.call("POST", "/url", map[string]string{"url": f.ts.URL + "/"})
	d.call("POST", "/element/"+d.element("#settings summary")+"/click", map[string]any{})
	temp := d.element("#temperature")
	d.call("POST", "/element/"+temp+"/clear", map[string]any{})
	d.call("POST", "/element/"+temp+"/value", map[string]string{"text": "0"})
	type pageState struct {
		State, Notice, Errors string
		Answers               int
		Last                  string
	}
	turn := func(text string, answers int) pageState {
		in := d.element("#input")
		d.call("POST", "/element/"+in+"/value", map[string]string{"text": text})
		d.call("POST", "/element/"+d.element("#send")+"/click", map[string]any{})
		var st pageState
		for deadline := time.Now().Add(30 * time.Second); ; {
			d.script(`const a = document.querySelectorAll(".msg.assistant"), n = document.getElementById("notice");
				return {State: document.getElementById("status").dataset.state, Answers: a.length,
					Last: a.length ? a[a.length-1].textContent : "",
					Notice: n.hidden ? "" : n.textContent,
					Errors: Array.from(document.querySelectorAll(".msg.error")).map(e => e.textContent).join(" | ")};`, &st)
			if st.State == "done" && st.Answers == answers {
				return st
			}
			if time.Now().After(deadline) {
				t.Fatalf("turn %q: no answer within 30 s: %+v", text, st)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	long := strings.Repeat("Lily and Tom went to the park to play with a big red ball. ", 18)
	if n := len(f.m.Encode(long, nil)); n < 300 || n > 480 {
		t.Fatalf("the first message is %d tokens; the test wants 300 to 480", n)
	}
	first := turn(long, 1)
	if first.Errors != "" || !strings.Contains(first.Notice, "max tokens 256") {
		t.Errorf("first turn: errors %q, notice %q; want max_tokens clamped and said so", first.Errors, first.Notice)
	}
	second := turn("What did they do next?", 2)
	if second.Errors != "" || second.Last == "" {
		t.Errorf("second turn: errors %q, answer %q", second.Errors, second.Last)
	}
	if !strings.Contains(second.Notice, "dropped") {
		t.Errorf("second turn: notice %q; want it to say old turns were dropped", second.Notice)
	}
	t.Logf("first notice %q; second notice %q; answer %q", first.Notice, second.Notice, second.Last)
}
