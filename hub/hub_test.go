package hub

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestNewClientEnv checks the environment variables against the precedence that
// huggingface_hub's constants.py and utils/_auth.py give them.
func TestNewClientEnv(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "hfhome", "token")
	os.MkdirAll(filepath.Dir(tokenFile), 0o755)
	os.WriteFile(tokenFile, []byte("hf_fromfile\n"), 0o600)
	other := filepath.Join(dir, "other-token")
	os.WriteFile(other, []byte("  hf_other\r\n"), 0o600)

	tests := []struct {
		name                   string
		env                    map[string]string
		endpoint, cache, token string
		offline                bool
	}{
		{"defaults", map[string]string{"HOME": "/home/u"},
			DefaultEndpoint, "/home/u/.cache/huggingface/hub", "", false},
		{"XDG_CACHE_HOME", map[string]string{"HOME": "/home/u", "XDG_CACHE_HOME": "/xdg"},
			DefaultEndpoint, "/xdg/huggingface/hub", "", false},
		{"HF_HOME with token file", map[string]string{"HOME": "/home/u", "HF_HOME": filepath.Join(dir, "hfhome")},
			DefaultEndpoint, filepath.Join(dir, "hfhome", "hub"), "hf_fromfile", false},
		{"HF_HUB_CACHE wins", map[string]string{"HF_HOME": "/h", "HF_HUB_CACHE": "/c", "HUGGINGFACE_HUB_CACHE": "/legacy"},
			DefaultEndpoint, "/c", "", false},
		{"legacy cache variable", map[string]string{"HF_HOME": "/h", "HUGGINGFACE_HUB_CACHE": "/legacy"},
			DefaultEndpoint, "/legacy", "", false},
		{"tilde and vars", map[string]string{"HOME": "/home/u", "HF_HUB_CACHE": "~/x/$SUB", "SUB": "y"},
			DefaultEndpoint, "/home/u/x/y", "", false},
		{"HF_TOKEN beats the file", map[string]string{"HF_HOME": filepath.Join(dir, "hfhome"), "HF_TOKEN": " hf_env "},
			DefaultEndpoint, filepath.Join(dir, "hfhome", "hub"), "hf_env", false},
		{"legacy token variable", map[string]string{"HF_HOME": "/h", "HUGGING_FACE_HUB_TOKEN": "hf_legacy"},
			DefaultEndpoint, "/h/hub", "hf_legacy", false},
		{"HF_TOKEN_PATH", map[string]string{"HF_HOME": filepath.Join(dir, "hfhome"), "HF_TOKEN_PATH": other},
			DefaultEndpoint, filepath.Join(dir, "hfhome", "hub"), "hf_other", false},
		{"implicit token disabled", map[string]string{"HF_HOME": filepath.Join(dir, "hfhome"), "HF_TOKEN": "x", "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1"},
			DefaultEndpoint, filepath.Join(dir, "hfhome", "hub"), "", false},
		{"endpoint and offline", map[string]string{"HF_HOME": "/h", "HF_ENDPOINT": "https://mirror.example/", "HF_HUB_OFFLINE": "yes"},
			"https://mirror.example", "/h/hub", "", true},
		{"offline off", map[string]string{"HF_HOME": "/h", "HF_HUB_OFFLINE": "0"},
			DefaultEndpoint, "/h/hub", "", false},
		{"TRANSFORMERS_OFFLINE", map[string]string{"HF_HOME": "/h", "TRANSFORMERS_OFFLINE": "TRUE"},
			DefaultEndpoint, "/h/hub", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClientEnv(func(k string) string { return tt.env[k] })
			if c.Endpoint != tt.endpoint || c.Cache != tt.cache || c.Token != tt.token || c.Offline != tt.offline {
				t.Errorf("got endpoint %q cache %q token %q offline %v; want %q %q %q %v",
					c.Endpoint, c.Cache, c.Token, c.Offline, tt.endpoint, tt.cache, tt.token, tt.offline)
			}
		})
	}
}

func TestNewClientReadsProcessEnv(t *testing.T) {
	t.Setenv("HF_HUB_CACHE", "/some/cache")
	t.Setenv("HF_ENDPOINT", "http://127.0.0.1:9")
	t.Setenv("HF_TOKEN", "hf_x")
	t.Setenv("HF_HUB_OFFLINE", "1")
	c := NewClient()
	if c.Cache != "/some/cache" || c.Endpoint != "http://127.0.0.1:9" || c.Token != "hf_x" || !c.Offline {
		t.Errorf("NewClient = %+v", c)
	}
	if CacheDir(nil) != "/some/cache" {
		t.Errorf("CacheDir(nil) = %q", CacheDir(nil))
	}
}

func TestRepoFolder(t *testing.T) {
	tests := []struct{ typ, repo, want string }{
		{RepoModel, "Deci/DeciLM-6b-instruct", "models--Deci--DeciLM-6b-instruct"},
		{RepoDataset, "cais/mmlu", "datasets--cais--mmlu"},
		{RepoModel, "gpt2", "models--gpt2"},
	}
	for _, tt := range tests {
		if got := RepoFolder(tt.typ, tt.repo); got != tt.want {
			t.Errorf("RepoFolder(%q, %q) = %q, want %q", tt.typ, tt.repo, got, tt.want)
		}
	}
}

func TestBadArguments(t *testing.T) {
	c := &Client{Endpoint: "http://127.0.0.1:1", Cache: t.TempDir()}
	tests := []struct {
		repo string
		opts Options
		want string
	}{
		{"a/b/c", Options{}, "want owner/name"},
		{"o/m", Options{RepoType: "space"}, "repository type"},
		{"o/m", Options{Revision: "../main"}, "revision"},
		{"o/m", Options{Exclude: []string{"[a"}}, "unclosed"},
	}
	for _, tt := range tests {
		_, err := c.Download(context.Background(), tt.repo, tt.opts)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Download(%q, %+v) = %v, want an error about %s", tt.repo, tt.opts, err, tt.want)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{{0, "0 B"}, {999, "999 B"}, {1000, "1.0 kB"}, {11_400_000_000, "11.4 GB"}, {1 << 62, "4611.7 PB"}}
	for _, tt := range tests {
		if got := formatBytes(tt.n); got != tt.want {
			t.Errorf("formatBytes(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

// Example downloads a repository's config from a stand-in hub and reads it back from the
// snapshot folder, which huggingface_hub would find in the same place.
func Example() {
	const commit = "1111111111111111111111111111111111111111"
	body := `{"model_type": "deci"}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/models/Deci/DeciLM-6b-instruct/revision/main":
			fmt.Fprintf(w, `{"sha": %q, "siblings": [{"rfilename": "config.json"}]}`, commit)
		case "/Deci/DeciLM-6b-instruct/resolve/" + commit + "/config.json":
			w.Header().Set("ETag", `"2d11372ea07e18ffa33b1dc66d5942252da669c2"`)
			w.Header().Set("X-Repo-Commit", commit)
			io.WriteString(w, body)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	cache, _ := os.MkdirTemp("", "hub-example")
	defer os.RemoveAll(cache)

	c := NewClient()
	c.Endpoint, c.Cache, c.Token, c.Offline = srv.URL, cache, "", false
	dir, err := c.Download(context.Background(), "Deci/DeciLM-6b-instruct", Options{Include: []string{"*.json"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	b, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	rel, _ := filepath.Rel(cache, dir)
	fmt.Println(rel)
	fmt.Println(string(b))
	_, ok := CachedSnapshot(cache, RepoModel, "Deci/DeciLM-6b-instruct", "main")
	fmt.Println("cached:", ok)
	// Output:
	// models--Deci--DeciLM-6b-instruct/snapshots/1111111111111111111111111111111111111111
	// {"model_type": "deci"}
	// cached: true
}

func TestCheckSpaceWarns(t *testing.T) {
	dir := t.TempDir()
	if runtime.GOOS == "linux" && freeSpace(dir) <= 0 {
		t.Fatalf("freeSpace(%s) = %d", dir, freeSpace(dir))
	}
	var out strings.Builder
	p := newProgress(&out, time.Hour, 1)
	c := &Client{}
	c.checkSpace(dir, []fileMeta{{name: "huge", etag: "e", size: 1 << 62}}, p)
	p.stop()
	if freeSpace(dir) >= 0 && !strings.Contains(out.String(), "warning: the download needs 4611.7 PB more") {
		t.Errorf("no warning for a 4 EB download:\n%s", out.String())
	}
	out.Reset()
	p = newProgress(&out, time.Hour, 1)
	c.checkSpace(dir, []fileMeta{{name: "small", etag: "e", size: 10}}, p)
	p.stop()
	if strings.Contains(out.String(), "warning") {
		t.Errorf("warning for a 10-byte download:\n%s", out.String())
	}
}
