package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

const pullCommit = "abcdefabcdefabcdefabcdefabcdefabcdefabcd"

// pullHub is a small stand-in for the Hugging Face Hub: the revision API and resolve URLs
// for one model and one dataset, with LFS-style etags (sha256) so downloads are verified.
type pullHub struct {
	srv   *httptest.Server
	files map[string]map[string][]byte // "models/o/m" -> name -> content
	hits  atomic.Int64
}

func newPullHub(t *testing.T) *pullHub {
	h := &pullHub{files: map[string]map[string][]byte{
		"models/o/m": {
			"config.json":       []byte(`{"hidden_size": 8}`),
			"model.safetensors": bytes.Repeat([]byte("w"), 5000),
			"pytorch_model.bin": bytes.Repeat([]byte("p"), 3000),
		},
		"datasets/o/d": {
			"data/test.jsonl": []byte("{\"q\": 1}\n"),
		},
	}}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *pullHub) serve(w http.ResponseWriter, r *http.Request) {
	h.hits.Add(1)
	p := r.URL.EscapedPath()
	if rest, ok := strings.CutPrefix(p, "/api/"); ok {
		// {models|datasets}/o/x/revision/{rev}
		parts := strings.Split(rest, "/")
		repo := h.files[strings.Join(parts[:3], "/")]
		if repo == nil || len(parts) != 5 {
			w.Header().Set("X-Error-Code", "RepoNotFound")
			http.Error(w, "Repository not found", 401)
			return
		}
		if parts[4] != "main" {
			w.Header().Set("X-Error-Code", "RevisionNotFound")
			http.Error(w, "Invalid rev id", 404)
			return
		}
		type sib struct {
			RFilename string `json:"rfilename"`
		}
		var sibs []sib
		for name := range repo {
			sibs = append(sibs, sib{name})
		}
		json.NewEncoder(w).Encode(map[string]any{"sha": pullCommit, "siblings": sibs})
		return
	}
	key := "models"
	if rest, ok := strings.CutPrefix(p, "/datasets/"); ok {
		key, p = "datasets", "/"+rest
	}
	parts := strings.SplitN(strings.TrimPrefix(p, "/"), "/", 5)
	if len(parts) != 5 || parts[2] != "resolve" || parts[3] != pullCommit {
		http.NotFound(w, r)
		return
	}
	b, ok := h.files[key+"/"+parts[0]+"/"+parts[1]][parts[4]]
	if !ok {
		w.Header().Set("X-Error-Code", "EntryNotFound")
		http.NotFound(w, r)
		return
	}
	sum := sha256.Sum256(b)
	w.Header().Set("X-Linked-Etag", `"`+hex.EncodeToString(sum[:])+`"`)
	w.Header().Set("X-Linked-Size", strconv.Itoa(len(b)))
	w.Header().Set("X-Repo-Commit", pullCommit)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	if r.Method == http.MethodGet {
		w.Write(b)
	}
}

// hubEnv points the hub client at h with a fresh cache and no token or offline setting from
// the machine running the test.
func hubEnv(t *testing.T, h *pullHub) string {
	cache := t.TempDir()
	t.Setenv("HF_HUB_CACHE", cache)
	t.Setenv("HF_HOME", t.TempDir())
	t.Setenv("HF_ENDPOINT", h.srv.URL)
	t.Setenv("HF_TOKEN", "")
	t.Setenv("HUGGING_FACE_HUB_TOKEN", "")
	t.Setenv("HF_HUB_OFFLINE", "")
	t.Setenv("TRANSFORMERS_OFFLINE", "")
	return cache
}

func listSnapshot(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	return out
}

func TestPullCommand(t *testing.T) {
	h := newPullHub(t)
	tests := []struct {
		name      string
		args      []string
		status    int
		wantFiles []string // in the printed snapshot folder
		wantErr   string
	}{
		{"model, safetensors preferred", []string{"o/m"}, 0, []string{"config.json", "model.safetensors"}, ""},
		{"include", []string{"o/m", "--include", "*.json"}, 0, []string{"config.json"}, ""},
		{"include twice", []string{"--include", "*.json", "--include", "*.bin", "o/m"}, 0, []string{"config.json", "pytorch_model.bin"}, ""},
		{"exclude", []string{"hf://o/m", "--exclude", "*.safetensors"}, 0, []string{"config.json"}, ""},
		{"revision", []string{"o/m@main", "--revision", "main"}, 0, []string{"config.json", "model.safetensors"}, ""},
		{"dataset", []string{"--dataset", "o/d"}, 0, []string{"data/test.jsonl"}, ""},
		{"no repo", nil, 2, nil, "want one repository"},
		{"two repos", []string{"o/m", "o/d"}, 2, nil, "want one repository"},
		{"not a repo id", []string{"a/b/c"}, 2, nil, "not a hub repository id"},
		{"bad concurrency", []string{"o/m", "--concurrency", "0"}, 2, nil, "--concurrency"},
		{"revision conflict", []string{"o/m@v1", "--revision", "v2"}, 2, nil, "conflicts"},
		{"missing repo", []string{"o/nothere"}, 1, nil, "o/nothere"},
		{"missing revision", []string{"o/m", "--revision", "v9"}, 1, nil, `"v9"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cache := hubEnv(t, h)
			var out, errb bytes.Buffer
			status := runMain(context.Background(), &env{stdout: &out, stderr: &errb}, append([]string{"pull"}, tt.args...))
			if status != tt.status {
				t.Fatalf("status %d, want %d; stderr:\n%s", status, tt.status, errb.String())
			}
			if tt.wantErr != "" {
				if !strings.Contains(errb.String(), tt.wantErr) {
					t.Errorf("stderr %q does not mention %q", errb.String(), tt.wantErr)
				}
				return
			}
			dir := strings.TrimSpace(out.String())
			if !strings.HasPrefix(dir, cache+string(filepath.Separator)) || !strings.HasSuffix(dir, pullCommit) {
				t.Errorf("printed %q, want a snapshot folder under %s", dir, cache)
			}
			if got := listSnapshot(t, dir); strings.Join(got, ",") != strings.Join(tt.wantFiles, ",") {
				t.Errorf("snapshot holds %v, want %v", got, tt.wantFiles)
			}
		})
	}
}

func TestPullCacheDirAndToken(t *testing.T) {
	h := newPullHub(t)
	hubEnv(t, h)
	other := filepath.Join(t.TempDir(), "elsewhere")
	var out, errb bytes.Buffer
	status := runMain(context.Background(), &env{stdout: &out, stderr: &errb},
		[]string{"pull", "o/m", "--cache-dir", other, "--token", "hf_x", "--concurrency", "1"})
	if status != 0 {
		t.Fatalf("status %d: %s", status, errb.String())
	}
	if want := filepath.Join(other, "models--o--m", "snapshots", pullCommit); strings.TrimSpace(out.String()) != want {
		t.Errorf("printed %q, want %q", out.String(), want)
	}
}

func TestResolveModelRef(t *testing.T) {
	h := newPullHub(t)
	local := filepath.Join(t.TempDir(), "model.gguf")
	os.WriteFile(local, []byte("GGUF"), 0o644)
	localDir := t.TempDir()

	cache := hubEnv(t, h)
	snap := filepath.Join(cache, "models--o--m", "snapshots", pullCommit)
	ctx := context.Background()
	var errb bytes.Buffer
	e := &env{stdout: &bytes.Buffer{}, stderr: &errb}

	// A snapshot holding only the config (an earlier pull --include config.json) is no model.
	var out, eb bytes.Buffer
	if st := runMain(ctx, &env{stdout: &out, stderr: &eb}, []string{"pull", "o/m", "--include", "config.json"}); st != 0 {
		t.Fatalf("pull config: %d %s", st, eb.String())
	}
	if _, err := resolveModelRef(ctx, e, "o/m", false); err == nil || !strings.Contains(err.Error(), "no weight files") {
		t.Fatalf("config-only snapshot: err = %v", err)
	}
	os.RemoveAll(filepath.Join(cache, "models--o--m"))
	h.hits.Store(0)

	// Not cached, no --pull: the error is the offer.
	_, err := resolveModelRef(ctx, e, "o/m", false)
	if err == nil || !strings.Contains(err.Error(), "decilm pull o/m") || !strings.Contains(err.Error(), "--pull") {
		t.Fatalf("not cached: err = %v", err)
	}
	if h.hits.Load() != 0 {
		t.Error("resolveModelRef without pull went to the network")
	}
	// With pull: downloaded into the shared cache.
	got, err := resolveModelRef(ctx, e, "o/m", true)
	if err != nil || got != snap {
		t.Fatalf("pull: %q, %v; want %q", got, err, snap)
	}
	if _, err := os.Stat(filepath.Join(got, "model.safetensors")); err != nil {
		t.Errorf("the pulled snapshot lacks the weights: %v", err)
	}
	if !strings.Contains(errb.String(), "pulling o/m") {
		t.Errorf("stderr %q does not say it pulls", errb.String())
	}

	// Now cached: resolved with no request, even with the hub gone.
	h.srv.Close()
	n := h.hits.Load()
	tests := []struct {
		ref     string
		want    string
		wantErr string
	}{
		{local, local, ""},
		{localDir, localDir, ""},
		{"o/m", snap, ""},
		{"hf://o/m", snap, ""},
		{"hf://models/o/m", snap, ""},
		{"o/m@main", snap, ""},
		{"o/m@" + pullCommit, snap, ""},
		{"o/m@v2", "", "decilm pull o/m --revision v2"},
		{"o/other", "", "decilm pull o/other"},
		{"./missing/model.gguf", "", "no such file"},
		{"missing.gguf", "", "no such file"},
		{"", "", "no model"},
	}
	for _, tt := range tests {
		got, err := resolveModelRef(ctx, e, tt.ref, false)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("resolveModelRef(%q) = %q, %v; want an error with %q", tt.ref, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("resolveModelRef(%q) = %q, %v; want %q", tt.ref, got, err, tt.want)
		}
	}
	if h.hits.Load() != n {
		t.Error("resolving cached models went to the network")
	}

	// Offline and not cached, even with pull: a clear error, no request.
	t.Setenv("HF_HUB_OFFLINE", "1")
	if _, err := resolveModelRef(ctx, e, "o/other", true); err == nil || !strings.Contains(err.Error(), "HF_HUB_OFFLINE") {
		t.Errorf("offline pull: err = %v", err)
	}
}

func TestParseHubRef(t *testing.T) {
	tests := []struct {
		ref, repo, rev string
		ok             bool
	}{
		{"Deci/DeciLM-6b-instruct", "Deci/DeciLM-6b-instruct", "", true},
		{"Deci/DeciLM-6b-instruct@v1.0", "Deci/DeciLM-6b-instruct", "v1.0", true},
		{"hf://Deci/DeciLM-7B", "Deci/DeciLM-7B", "", true},
		{"hf://gpt2", "gpt2", "", true},
		{"gpt2", "", "", false},
		{"o/m@", "", "", false},
		{"a/b/c", "", "", false},
		{"../x", "", "", false},
		{"model.gguf", "", "", false},
	}
	for _, tt := range tests {
		repo, rev, ok := parseHubRef(tt.ref)
		if repo != tt.repo || rev != tt.rev || ok != tt.ok {
			t.Errorf("parseHubRef(%q) = %q, %q, %v; want %q, %q, %v", tt.ref, repo, rev, ok, tt.repo, tt.rev, tt.ok)
		}
	}
}
