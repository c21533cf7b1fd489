package hub

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// checkHFLayout checks a repository's cache folder against the rules huggingface_hub reads it
// by (file_download.try_to_load_from_cache and the cache layout it documents), written here
// from those rules rather than from this package's code: refs/<revision> holds exactly the
// 40-hex commit and no newline; snapshots/<commit>/<file> is a relative symbolic link whose
// text is one "../" per folder level down to the repository folder, then "blobs/<etag>"; the
// blob is a regular file whose name is the sha256 of its bytes (LFS files) or git's blob id
// (other files); no ".incomplete" file is left.
func checkHFLayout(t *testing.T, cache, folder, revision string, want map[string]*fakeFile) {
	t.Helper()
	storage := filepath.Join(cache, folder)
	ref, err := os.ReadFile(filepath.Join(storage, "refs", filepath.FromSlash(revision)))
	if err != nil {
		t.Fatalf("refs/%s: %v", revision, err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{40}$`).Match(ref) {
		t.Fatalf("refs/%s = %q, want a bare 40-hex commit", revision, ref)
	}
	commit := string(ref)
	for name, f := range want {
		pointer := filepath.Join(storage, "snapshots", commit, filepath.FromSlash(name))
		st, err := os.Lstat(pointer)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if st.Mode()&os.ModeSymlink == 0 {
			t.Fatalf("%s: not a symbolic link (mode %v)", name, st.Mode())
		}
		target, _ := os.Readlink(pointer)
		etag := gitBlobSHA1(f.content)
		if f.lfs {
			etag = f.sha256()
		}
		wantTarget := strings.Repeat("../", strings.Count(name, "/")+2) + "blobs/" + etag
		if target != wantTarget {
			t.Errorf("%s -> %q, want %q", name, target, wantTarget)
		}
		blob := filepath.Join(storage, "blobs", etag)
		bst, err := os.Lstat(blob)
		if err != nil || !bst.Mode().IsRegular() {
			t.Fatalf("blob of %s: %v %v", name, err, bst)
		}
		got, err := os.ReadFile(pointer)
		if err != nil || !bytes.Equal(got, f.content) {
			t.Errorf("%s: content differs (%d bytes, want %d; %v)", name, len(got), len(f.content), err)
		}
	}
	ents, _ := os.ReadDir(filepath.Join(storage, "blobs"))
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".incomplete") {
			t.Errorf("left behind: blobs/%s", e.Name())
		}
	}
	scanLikeHF(t, cache)
}

// scanLikeHF applies the checks of huggingface_hub's scan_cache_dir (utils/_cache_manager.py)
// to every repository folder in cache, which it reports as corrupt otherwise: the folder name
// is <type>s--<id>; snapshots/ exists and holds only folders; every file under a snapshot
// resolves to an existing blob; every ref names an existing snapshot.
func scanLikeHF(t *testing.T, cache string) {
	t.Helper()
	repos, _ := os.ReadDir(cache)
	for _, r := range repos {
		if r.Name() == ".locks" {
			continue
		}
		repo := filepath.Join(cache, r.Name())
		typ, _, ok := strings.Cut(r.Name(), "--")
		if !ok || (typ != "models" && typ != "datasets") {
			t.Errorf("%s: not a cache repository folder name", repo)
			continue
		}
		snaps, err := os.ReadDir(filepath.Join(repo, "snapshots"))
		if err != nil {
			t.Errorf("%s: snapshots dir doesn't exist: %v", repo, err)
			continue
		}
		have := map[string]bool{}
		for _, s := range snaps {
			if !s.IsDir() {
				t.Errorf("%s: snapshots folder has a file %s", repo, s.Name())
				continue
			}
			have[s.Name()] = true
			filepath.Walk(filepath.Join(repo, "snapshots", s.Name()), func(p string, info os.FileInfo, err error) error {
				if err != nil || info.IsDir() {
					return nil
				}
				if _, err := os.Stat(p); err != nil {
					t.Errorf("blob missing (broken symlink): %s", p)
				}
				return nil
			})
		}
		filepath.Walk(filepath.Join(repo, "refs"), func(p string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() {
				return nil
			}
			b, _ := os.ReadFile(p)
			if !have[string(b)] {
				t.Errorf("%s: ref %s refers to the missing commit %q", repo, p, b)
			}
			return nil
		})
	}
}

// snapshotFiles lists the regular files reachable under snapshots/, as names relative to it.
func snapshotFiles(t *testing.T, storage string) []string {
	t.Helper()
	var out []string
	root := filepath.Join(storage, "snapshots")
	filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err == nil && p != root && !info.IsDir() {
			rel, _ := filepath.Rel(root, p)
			_, name, _ := strings.Cut(filepath.ToSlash(rel), "/") // drop the commit
			out = append(out, name)
		}
		return nil
	})
	return out
}

func modelFiles() []*fakeFile {
	return []*fakeFile{
		{name: ".gitattributes", content: []byte("*.safetensors filter=lfs diff=lfs merge=lfs -text\n")},
		{name: "config.json", content: []byte(`{"model_type": "deci"}`)},
		{name: "model-00001-of-00002.safetensors", content: content(1, 300_000), lfs: true},
		{name: "model-00002-of-00002.safetensors", content: content(2, 120_000), lfs: true},
		{name: "model.safetensors.index.json", content: []byte(`{"weight_map": {}}`)},
		{name: "pytorch_model.bin", content: content(3, 50_000), lfs: true},
		{name: "pytorch_model.bin.index.json", content: []byte(`{}`)},
		{name: "tokenizer/nested/tokenizer.model", content: content(4, 5_000), lfs: true},
	}
}

func byName(files []*fakeFile, skip ...string) map[string]*fakeFile {
	m := map[string]*fakeFile{}
	for _, f := range files {
		m[f.name] = f
	}
	for _, s := range skip {
		delete(m, s)
	}
	return m
}

func TestDownloadLayoutAndSkip(t *testing.T) {
	h := newFakeHub(t)
	files := modelFiles()
	h.addRepo(RepoModel, "Deci/DeciLM-6b-instruct", files...)
	c := h.client(t)
	c.Token = "hf_secret"
	c.UserAgent = "decilm-test/1"
	var prog bytes.Buffer
	c.Progress = &prog
	c.ProgressInterval = 5 * time.Millisecond

	dir, err := c.Download(context.Background(), "Deci/DeciLM-6b-instruct", Options{})
	if err != nil {
		t.Fatal(err)
	}
	storage := filepath.Join(c.Cache, "models--Deci--DeciLM-6b-instruct")
	if want := filepath.Join(storage, "snapshots", fakeCommit); dir != want {
		t.Fatalf("snapshot dir %s, want %s", dir, want)
	}
	// Safetensors exist, so the .bin weights and their index are skipped.
	want := byName(files, "pytorch_model.bin", "pytorch_model.bin.index.json")
	checkHFLayout(t, c.Cache, "models--Deci--DeciLM-6b-instruct", "main", want)
	if got := snapshotFiles(t, storage); len(got) != len(want) {
		t.Errorf("snapshot has %v, want the %d files %v", got, len(want), want)
	}
	if !strings.Contains(prog.String(), "6/6 files") {
		t.Errorf("progress display never showed 6/6 files:\n%s", prog.String())
	}

	cdnHost := strings.TrimPrefix(h.cdn.URL, "http://")
	sawCDN := false
	for _, r := range h.requests() {
		if r.ua != "decilm-test/1" {
			t.Errorf("%s %s: User-Agent %q", r.method, r.path, r.ua)
		}
		if r.host == cdnHost {
			sawCDN = true
			if r.auth != "" {
				t.Errorf("token sent to the CDN host: %s %s", r.method, r.path)
			}
			if r.method != http.MethodGet {
				t.Errorf("%s to the CDN: the HEAD must not follow the redirect", r.method)
			}
		} else if r.auth != "Bearer hf_secret" {
			t.Errorf("%s %s: Authorization %q, want the bearer token", r.method, r.path, r.auth)
		}
	}
	if !sawCDN {
		t.Error("no download went through the CDN redirect")
	}

	// A second pull finds everything complete: one API call, no HEAD, no GET of a file.
	n := len(h.requests())
	if _, err := c.Download(context.Background(), "Deci/DeciLM-6b-instruct", Options{}); err != nil {
		t.Fatal(err)
	}
	if extra := h.requests()[n:]; len(extra) != 1 || !strings.HasPrefix(extra[0].path, "/api/models/") {
		t.Errorf("second pull sent %v, want only the revision API call", extra)
	}

	// Asking for the .bin files explicitly adds them to the same snapshot.
	if _, err := c.Download(context.Background(), "Deci/DeciLM-6b-instruct", Options{Include: []string{"*.bin"}}); err != nil {
		t.Fatal(err)
	}
	checkHFLayout(t, c.Cache, "models--Deci--DeciLM-6b-instruct", "main", byName(files, "pytorch_model.bin.index.json"))
}

func TestDownloadIncludeExclude(t *testing.T) {
	h := newFakeHub(t)
	files := modelFiles()
	h.addRepo(RepoModel, "o/m", files...)
	tests := []struct {
		name             string
		include, exclude []string
		want             []string
	}{
		{"json only", []string{"*.json"}, nil, []string{"config.json", "model.safetensors.index.json", "pytorch_model.bin.index.json"}},
		{"folder", []string{"tokenizer/"}, nil, []string{"tokenizer/nested/tokenizer.model"}},
		{"star crosses slash", []string{"*.model"}, nil, []string{"tokenizer/nested/tokenizer.model"}},
		{"exclude on top of defaults", nil, []string{"*.safetensors", ".*"}, []string{"config.json", "model.safetensors.index.json", "tokenizer/nested/tokenizer.model"}},
		{"class", []string{"model-0000[1]-of-*.safetensors"}, nil, []string{"model-00001-of-00002.safetensors"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := h.client(t)
			dir, err := c.Download(context.Background(), "o/m", Options{Include: tt.include, Exclude: tt.exclude})
			if err != nil {
				t.Fatal(err)
			}
			got := snapshotFiles(t, filepath.Dir(filepath.Dir(dir)))
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	c := h.client(t)
	if _, err := c.Download(context.Background(), "o/m", Options{Include: []string{"*.gguf"}}); err == nil || !strings.Contains(err.Error(), "no file matches") {
		t.Errorf("no match: err = %v", err)
	}
	if _, err := c.Download(context.Background(), "o/m", Options{Include: []string{"[abc"}}); err == nil || !strings.Contains(err.Error(), "unclosed") {
		t.Errorf("bad pattern: err = %v", err)
	}
}

func TestDownloadDatasetAndSlashRevision(t *testing.T) {
	h := newFakeHub(t)
	files := []*fakeFile{
		{name: "data/train-00000-of-00001.parquet", content: content(7, 40_000), lfs: true},
		{name: "README.md", content: []byte("# data\n")},
		{name: "weights.bin", content: content(8, 1000), lfs: true}, // no default filter for datasets
	}
	r := h.addRepo(RepoDataset, "org/set", files...)
	r.refs["refs/pr/1"] = fakeCommit
	c := h.client(t)
	dir, err := c.Download(context.Background(), "org/set", Options{RepoType: RepoDataset, Revision: "refs/pr/1"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(dir, "datasets--org--set") {
		t.Errorf("dir %s", dir)
	}
	// A revision with '/' is stored as a nested path under refs/, as huggingface_hub does.
	checkHFLayout(t, c.Cache, "datasets--org--set", "refs/pr/1", byName(files))
	var sawEscaped bool
	for _, q := range h.requests() {
		if q.path == "/api/datasets/org/set/revision/refs%2Fpr%2F1" {
			sawEscaped = true
		}
		if q.method == http.MethodHead && !strings.HasPrefix(q.path, "/datasets/org/set/resolve/"+fakeCommit+"/") {
			t.Errorf("HEAD %s: want /datasets/org/set/resolve/<commit>/...", q.path)
		}
	}
	if !sawEscaped {
		t.Errorf("the revision API was not called with the escaped revision: %v", h.requests())
	}
	if got, ok := CachedSnapshot(c.Cache, RepoDataset, "org/set", "refs/pr/1"); !ok || got != dir {
		t.Errorf("CachedSnapshot = %q, %v", got, ok)
	}
}

func TestResumeAfterDroppedConnection(t *testing.T) {
	h := newFakeHub(t)
	big := &fakeFile{name: "model.safetensors", content: content(11, 500_000), lfs: true, dropAfter: 123_456, dropTimes: 2}
	small := &fakeFile{name: "config.json", content: []byte("{}"), dropAfter: 1}
	h.addRepo(RepoModel, "o/m", big, small)
	c := h.client(t)
	var notes bytes.Buffer
	c.Progress = &notes
	if _, err := c.Download(context.Background(), "o/m", Options{}); err != nil {
		t.Fatal(err)
	}
	checkHFLayout(t, c.Cache, "models--o--m", "main", byName([]*fakeFile{big, small}))
	var ranges []string
	for _, r := range h.requests() {
		if r.method == http.MethodGet && strings.HasPrefix(r.path, "/blob/") {
			ranges = append(ranges, r.rangeHdr)
		}
	}
	// First try from 0; the drop after 123456 bytes resumes there and drops again at
	// 2*123456; the third request completes the file.
	want := []string{"", "bytes=123456-", "bytes=246912-"}
	if strings.Join(ranges, "|") != strings.Join(want, "|") {
		t.Errorf("CDN requests had Range %q, want %q", ranges, want)
	}
	if !strings.Contains(notes.String(), "retrying") {
		t.Errorf("no retry note:\n%s", notes.String())
	}
}

func TestStalledDownloadIsRetried(t *testing.T) {
	h := newFakeHub(t)
	f := &fakeFile{name: "model.safetensors", content: content(15, 100_000), lfs: true, stallAfter: 40_000}
	h.addRepo(RepoModel, "o/m", f)
	c := h.client(t)
	c.StallTimeout = 100 * time.Millisecond
	var notes bytes.Buffer
	c.Progress = &notes
	start := time.Now()
	if _, err := c.Download(context.Background(), "o/m", Options{}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v with a 100ms stall timeout", d)
	}
	checkHFLayout(t, c.Cache, "models--o--m", "main", byName([]*fakeFile{f}))
	var ranges []string
	for _, r := range h.requests() {
		if r.method == http.MethodGet && strings.HasPrefix(r.path, "/blob/") {
			ranges = append(ranges, r.rangeHdr)
		}
	}
	if strings.Join(ranges, "|") != "|bytes=40000-" {
		t.Errorf("CDN requests had Range %q, want a resume at 40000", ranges)
	}
	if !strings.Contains(notes.String(), "sent nothing for too long") {
		t.Errorf("no note about the stall:\n%s", notes.String())
	}
}

func TestRetryOnServerErrors(t *testing.T) {
	tests := []struct {
		name      string
		failTimes int
		retries   int
		wantGets  int
		wantErr   bool
	}{
		{"two 503 then success", 2, 3, 3, false},
		{"retries run out", 100, 2, 3, true},
		{"no retries", 100, -1, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newFakeHub(t)
			f := &fakeFile{name: "model.safetensors", content: content(5, 10_000), lfs: true, failStatus: 503, failTimes: tt.failTimes}
			h.addRepo(RepoModel, "o/m", f)
			c := h.client(t)
			c.Retries = tt.retries
			_, err := c.Download(context.Background(), "o/m", Options{})
			if got := h.fileGets(f.name); got != tt.wantGets {
				t.Errorf("%d GETs, want %d", got, tt.wantGets)
			}
			if !tt.wantErr {
				if err != nil {
					t.Fatal(err)
				}
				checkHFLayout(t, c.Cache, "models--o--m", "main", byName([]*fakeFile{f}))
				return
			}
			var he *HTTPError
			if !errors.As(err, &he) || he.StatusCode != 503 {
				t.Fatalf("err = %v, want the 503", err)
			}
			if got := snapshotFiles(t, filepath.Join(c.Cache, "models--o--m")); len(got) != 0 {
				t.Errorf("snapshots/ has %v", got)
			}
		})
	}
}

func TestResumeFromIncompleteFile(t *testing.T) {
	tests := []struct {
		name        string
		partial     func(full []byte) []byte
		ignoreRange bool
		wantRange   string
		wantErr     error
	}{
		{"resume at half", func(b []byte) []byte { return b[:len(b)/2] }, false, "bytes=100000-", nil},
		{"server ignores Range", func(b []byte) []byte { return b[:len(b)/2] }, true, "bytes=100000-", nil},
		{"partial longer than file", func(b []byte) []byte { return append(append([]byte(nil), b...), 1, 2, 3) }, false, "", nil},
		{"complete partial", func(b []byte) []byte { return b }, false, "none", nil},
		{"corrupt partial", func(b []byte) []byte {
			p := append([]byte(nil), b[:1000]...)
			p[10] ^= 1
			return p
		}, false, "bytes=1000-", ErrChecksum},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newFakeHub(t)
			f := &fakeFile{name: "model.safetensors", content: content(12, 200_000), lfs: true, ignoreRange: tt.ignoreRange}
			h.addRepo(RepoModel, "o/m", f)
			c := h.client(t)
			blobs := filepath.Join(c.Cache, "models--o--m", "blobs")
			os.MkdirAll(blobs, 0o755)
			partial := filepath.Join(blobs, f.sha256()+".incomplete")
			if err := os.WriteFile(partial, tt.partial(f.content), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := c.Download(context.Background(), "o/m", Options{})
			var ranges []string
			for _, r := range h.requests() {
				if r.method == http.MethodGet && strings.HasPrefix(r.path, "/blob/") {
					ranges = append(ranges, r.rangeHdr)
				}
			}
			if tt.wantRange == "none" {
				if len(ranges) != 0 {
					t.Errorf("a complete partial file was fetched again: %q", ranges)
				}
			} else if len(ranges) != 1 || ranges[0] != tt.wantRange {
				t.Errorf("requests with Range %q, want one with %q", ranges, tt.wantRange)
			}
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), "deleted the partial download") {
					t.Fatalf("err = %v, want %v saying the partial file was deleted", err, tt.wantErr)
				}
				if _, serr := os.Stat(partial); !os.IsNotExist(serr) {
					t.Errorf("the corrupt partial file is still there: %v", serr)
				}
				if got := snapshotFiles(t, filepath.Dir(blobs)); len(got) != 0 {
					t.Errorf("snapshots/ has %v after a checksum error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkHFLayout(t, c.Cache, "models--o--m", "main", byName([]*fakeFile{f}))
		})
	}
}

func TestCorruptDownload(t *testing.T) {
	h := newFakeHub(t)
	good := &fakeFile{name: "config.json", content: []byte(`{"a":1}`)}
	bad := &fakeFile{name: "model.safetensors", content: content(13, 80_000), lfs: true, corrupt: true}
	h.addRepo(RepoModel, "o/m", good, bad)
	c := h.client(t)
	_, err := c.Download(context.Background(), "o/m", Options{})
	if !errors.Is(err, ErrChecksum) {
		t.Fatalf("err = %v, want ErrChecksum", err)
	}
	t.Log(err)
	for _, s := range []string{"model.safetensors", bad.sha256(), "deleted the partial download"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
	storage := filepath.Join(c.Cache, "models--o--m")
	if got := snapshotFiles(t, storage); len(got) != 0 {
		t.Errorf("snapshots/ has %v after a corrupt download", got)
	}
	ents, _ := os.ReadDir(filepath.Join(storage, "blobs"))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), bad.sha256()) {
			t.Errorf("corrupt bytes left in blobs/%s", e.Name())
		}
	}
	if _, ok := CachedSnapshot(c.Cache, RepoModel, "o/m", "main"); ok {
		t.Error("CachedSnapshot finds a snapshot after a failed pull")
	}
	scanLikeHF(t, c.Cache)
}

func TestSlowServerProgressAndCancel(t *testing.T) {
	h := newFakeHub(t)
	// 300 chunks of 1 kB, 1ms apart: about half a second.
	f := &fakeFile{name: "model.safetensors", content: content(14, 300_000), lfs: true, slow: time.Millisecond}
	h.addRepo(RepoModel, "o/m", f)

	t.Run("progress moves", func(t *testing.T) {
		c := h.client(t)
		var prog bytes.Buffer
		c.Progress = &prog
		c.ProgressInterval = 20 * time.Millisecond
		if _, err := c.Download(context.Background(), "o/m", Options{}); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(prog.String()), "\n")
		re := regexp.MustCompile(`^(\S+ \S+) / 300\.0 kB .* (\S+ \S+)/s.* (\d)/1 files$`)
		distinct := map[string]bool{}
		for _, l := range lines {
			m := re.FindStringSubmatch(l)
			if m == nil {
				t.Fatalf("progress line %q does not match %v", l, re)
			}
			distinct[m[1]] = true
		}
		if len(distinct) < 4 {
			t.Errorf("progress took only %d distinct values:\n%s", len(distinct), prog.String())
		}
		if last := lines[len(lines)-1]; !strings.HasPrefix(last, "300.0 kB / 300.0 kB (100.0%)") || !strings.HasSuffix(last, "1/1 files") {
			t.Errorf("final line %q", last)
		}
		if !strings.Contains(prog.String(), "ETA ") {
			t.Errorf("no ETA shown:\n%s", prog.String())
		}
	})

	t.Run("cancel", func(t *testing.T) {
		c := h.client(t)
		ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := c.Download(ctx, "o/m", Options{})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want the context's error", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("cancellation took %v", d)
		}
		storage := filepath.Join(c.Cache, "models--o--m")
		st, serr := os.Stat(filepath.Join(storage, "blobs", f.sha256()+".incomplete"))
		if serr != nil || st.Size() == 0 || st.Size() >= int64(len(f.content)) {
			t.Fatalf("partial file after cancel: %v %v", st, serr)
		}
		if got := snapshotFiles(t, storage); len(got) != 0 {
			t.Errorf("snapshots/ has %v after cancel", got)
		}
		scanLikeHF(t, c.Cache)
		// The next pull resumes where the cancelled one stopped.
		n := len(h.requests())
		if _, err := c.Download(context.Background(), "o/m", Options{}); err != nil {
			t.Fatal(err)
		}
		checkHFLayout(t, c.Cache, "models--o--m", "main", byName([]*fakeFile{f}))
		for _, r := range h.requests()[n:] {
			if r.method == http.MethodGet && strings.HasPrefix(r.path, "/blob/") && r.rangeHdr == "" {
				t.Error("the resumed pull started the file from zero")
			}
		}
	})
}

func TestAuthErrors(t *testing.T) {
	h := newFakeHub(t)
	files := []*fakeFile{{name: "config.json", content: []byte("{}")}}
	r := h.addRepo(RepoModel, "meta/gated", files...)
	r.token = "hf_good"
	tests := []struct {
		token   string
		wantErr error
		wantMsg []string
	}{
		{"", ErrAccessDenied, []string{"meta/gated", "gated", "HF_TOKEN", "no token was sent", "401", "config.json", "request access at " + h.hub.URL + "/meta/gated"}},
		{"hf_bad", ErrAccessDenied, []string{"meta/gated", "gated", "check that the token", "403"}},
		{"hf_good", nil, nil},
	}
	for _, tt := range tests {
		t.Run("token="+tt.token, func(t *testing.T) {
			c := h.client(t)
			c.Token = tt.token
			_, err := c.Download(context.Background(), "meta/gated", Options{})
			if tt.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			t.Log(err)
			for _, s := range tt.wantMsg {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}

func TestNotFound(t *testing.T) {
	h := newFakeHub(t)
	h.addRepo(RepoModel, "o/m", &fakeFile{name: "config.json", content: []byte("{}")})
	tests := []struct {
		repo, rev string
		wantErr   error
		wantMsg   []string
	}{
		{"o/missing", "", ErrRepoNotFound, []string{"o/missing", `"main"`, "not found"}},
		{"o/m", "v9", ErrRevisionNotFound, []string{"o/m", `"v9"`, "revision does not exist"}},
	}
	for _, tt := range tests {
		t.Run(tt.repo+"@"+tt.rev, func(t *testing.T) {
			_, err := h.client(t).Download(context.Background(), tt.repo, Options{Revision: tt.rev})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			t.Log(err)
			for _, s := range tt.wantMsg {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}

func TestUnsafeFileNames(t *testing.T) {
	for _, name := range []string{"../escape.txt", "a/../../escape.txt", "/etc/passwd", `a\..\b`, "a//b", "./x", "x\x00y"} {
		t.Run(name, func(t *testing.T) {
			h := newFakeHub(t)
			h.addRepo(RepoModel, "o/m", &fakeFile{name: "config.json", content: []byte("{}")}, &fakeFile{name: name, content: []byte("pwned")})
			c := h.client(t)
			c.Cache = filepath.Join(t.TempDir(), "cache")
			_, err := c.Download(context.Background(), "o/m", Options{})
			if !errors.Is(err, ErrUnsafePath) {
				t.Fatalf("err = %v, want ErrUnsafePath", err)
			}
			t.Log(err)
			// Nothing may be written anywhere: the whole list is refused before any download.
			filepath.Walk(filepath.Dir(c.Cache), func(p string, info os.FileInfo, err error) error {
				if err == nil && !info.IsDir() {
					t.Errorf("file written: %s", p)
				}
				return nil
			})
		})
	}
}

func TestBadServerValues(t *testing.T) {
	h := newFakeHub(t)
	f := &fakeFile{name: "model.safetensors", content: content(1, 100), lfs: true, etagOver: "../../evil"}
	h.addRepo(RepoModel, "o/m", f)
	h.mu.Lock()
	h.blobs["../../evil"] = f
	h.mu.Unlock()
	_, err := h.client(t).Download(context.Background(), "o/m", Options{})
	if !errors.Is(err, ErrUnsafePath) || !strings.Contains(err.Error(), "etag") {
		t.Errorf("etag with '/': err = %v", err)
	}

	r := h.addRepo(RepoModel, "o/moved", &fakeFile{name: "config.json", content: []byte("{}")})
	r.commitOver = strings.Repeat("f", 40)
	if _, err := h.client(t).Download(context.Background(), "o/moved", Options{}); err == nil || !strings.Contains(err.Error(), "answered for commit ffff") {
		t.Errorf("X-Repo-Commit differs from the resolved commit: err = %v", err)
	}
}

func TestRelativeRedirectRenamedRepo(t *testing.T) {
	h := newFakeHub(t)
	f := &fakeFile{name: "model.safetensors", content: content(21, 3000), lfs: true}
	cfg := &fakeFile{name: "config.json", content: []byte("{}")}
	h.addRepo(RepoModel, "new/name", f, cfg)
	old := h.addRepo(RepoModel, "old/name", f, cfg)
	old.renamedTo = "new/name"
	c := h.client(t)
	if _, err := c.Download(context.Background(), "old/name", Options{}); err != nil {
		t.Fatal(err)
	}
	checkHFLayout(t, c.Cache, "models--old--name", "main", byName([]*fakeFile{f, cfg}))
}

// hfBuiltCache lays out a cache the way huggingface_hub writes one (hf_hub_download into
// cache_dir), by hand: blobs named by etag, refs/main, relative links in snapshots/.
func hfBuiltCache(t *testing.T, cache, folder string, files []*fakeFile) string {
	t.Helper()
	storage := filepath.Join(cache, folder)
	for _, d := range []string{"blobs", "refs", "snapshots/" + fakeCommit} {
		if err := os.MkdirAll(filepath.Join(storage, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(storage, "refs", "main"), []byte(fakeCommit), 0o644)
	for _, f := range files {
		etag := gitBlobSHA1(f.content)
		if f.lfs {
			etag = f.sha256()
		}
		os.WriteFile(filepath.Join(storage, "blobs", etag), f.content, 0o644)
		pointer := filepath.Join(storage, "snapshots", fakeCommit, f.name)
		os.MkdirAll(filepath.Dir(pointer), 0o755)
		up := strings.Repeat("../", strings.Count(f.name, "/")+2)
		if err := os.Symlink(up+"blobs/"+etag, pointer); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(storage, "snapshots", fakeCommit)
}

func TestUsesCacheBuiltByHuggingfaceHub(t *testing.T) {
	files := []*fakeFile{
		{name: "config.json", content: []byte(`{"x":1}`)},
		{name: "model.safetensors", content: content(31, 20_000), lfs: true},
		{name: "sub/tokenizer.json", content: []byte(`{"v":{}}`)},
	}
	h := newFakeHub(t)
	h.addRepo(RepoModel, "Deci/DeciLM-6b-instruct", files...)
	c := h.client(t)
	want := hfBuiltCache(t, c.Cache, "models--Deci--DeciLM-6b-instruct", files)

	got, err := c.Download(context.Background(), "Deci/DeciLM-6b-instruct", Options{})
	if err != nil || got != want {
		t.Fatalf("Download = %q, %v; want %q", got, err, want)
	}
	for _, r := range h.requests() {
		if !strings.HasPrefix(r.path, "/api/") {
			t.Errorf("request for a cached file: %s %s", r.method, r.path)
		}
	}
	checkHFLayout(t, c.Cache, "models--Deci--DeciLM-6b-instruct", "main", byName(files))

	// Blob present, link missing (another revision's snapshot shares it): link only.
	os.Remove(filepath.Join(want, "model.safetensors"))
	n := len(h.requests())
	if _, err := c.Download(context.Background(), "Deci/DeciLM-6b-instruct", Options{}); err != nil {
		t.Fatal(err)
	}
	for _, r := range h.requests()[n:] {
		if r.method == http.MethodGet && !strings.HasPrefix(r.path, "/api/") {
			t.Errorf("downloaded a blob that was in the cache: %s", r.path)
		}
	}
	checkHFLayout(t, c.Cache, "models--Deci--DeciLM-6b-instruct", "main", byName(files))

	// Offline: no request at all.
	n = len(h.requests())
	c.Offline = true
	got, err = c.Download(context.Background(), "Deci/DeciLM-6b-instruct", Options{})
	if err != nil || got != want {
		t.Fatalf("offline Download = %q, %v", got, err)
	}
	if _, err := c.Download(context.Background(), "Deci/other", Options{}); !errors.Is(err, ErrNotCached) || !strings.Contains(err.Error(), "HF_HUB_OFFLINE") {
		t.Errorf("offline, not cached: err = %v", err)
	}
	if len(h.requests()) != n {
		t.Errorf("offline mode sent %d requests", len(h.requests())-n)
	}

	// Hub unreachable: the cached snapshot is used, with a note.
	c.Offline = false
	var note bytes.Buffer
	c.Progress = &note
	c.Endpoint = "http://127.0.0.1:1" // nothing listens there
	c.Retries = -1
	got, err = c.Download(context.Background(), "Deci/DeciLM-6b-instruct", Options{})
	if err != nil || got != want {
		t.Fatalf("unreachable hub: Download = %q, %v", got, err)
	}
	if !strings.Contains(note.String(), "using the cached snapshot") {
		t.Errorf("no note about the fallback: %q", note.String())
	}
	if _, err := c.Download(context.Background(), "Deci/other", Options{}); err == nil {
		t.Error("unreachable hub, nothing cached: no error")
	}
}

func TestCachedSnapshot(t *testing.T) {
	cache := t.TempDir()
	files := []*fakeFile{{name: "config.json", content: []byte("{}")}}
	dir := hfBuiltCache(t, cache, "models--o--m", files)
	tests := []struct {
		repoType, repo, rev string
		want                string
		ok                  bool
	}{
		{"", "o/m", "", dir, true},
		{RepoModel, "o/m", "main", dir, true},
		{RepoModel, "o/m", fakeCommit, dir, true},
		{RepoModel, "o/m", "v2", "", false},
		{RepoModel, "o/m", strings.Repeat("a", 40), "", false},
		{RepoDataset, "o/m", "main", "", false},
		{RepoModel, "o/other", "main", "", false},
		{RepoModel, "../o", "main", "", false},
		{RepoModel, "o/m", "../../x", "", false},
	}
	for _, tt := range tests {
		got, ok := CachedSnapshot(cache, tt.repoType, tt.repo, tt.rev)
		if got != tt.want || ok != tt.ok {
			t.Errorf("CachedSnapshot(%q, %q, %q) = %q, %v; want %q, %v", tt.repoType, tt.repo, tt.rev, got, ok, tt.want, tt.ok)
		}
	}
}

func TestConcurrentDownloadsShareOneBlob(t *testing.T) {
	h := newFakeHub(t)
	same := content(41, 10_000)
	a := &fakeFile{name: "a.safetensors", content: same, lfs: true}
	b := &fakeFile{name: "copy/a.safetensors", content: same, lfs: true}
	h.addRepo(RepoModel, "o/m", a, b)
	c := h.client(t)
	if _, err := c.Download(context.Background(), "o/m", Options{}); err != nil {
		t.Fatal(err)
	}
	checkHFLayout(t, c.Cache, "models--o--m", "main", byName([]*fakeFile{a, b}))
	if n := h.fileGets("a.safetensors") + h.fileGets("copy/a.safetensors"); n != 1 {
		t.Errorf("the shared blob was fetched %d times", n)
	}
}

func TestConcurrentClientsShareCache(t *testing.T) {
	h := newFakeHub(t)
	f := &fakeFile{name: "model.safetensors", content: content(51, 100_000), lfs: true, slow: 200 * time.Microsecond}
	cfg := &fakeFile{name: "config.json", content: []byte("{}")}
	h.addRepo(RepoModel, "o/m", f, cfg)
	cache := t.TempDir()
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			c := h.client(t)
			c.Cache = cache
			_, err := c.Download(context.Background(), "o/m", Options{})
			errs <- err
		}()
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	checkHFLayout(t, cache, "models--o--m", "main", byName([]*fakeFile{f, cfg}))
	if n := h.fileGets(f.name); n != 1 {
		t.Errorf("three clients sharing a cache fetched the blob %d times, want 1 (the lock)", n)
	}
	ents, _ := os.ReadDir(filepath.Join(cache, "models--o--m", "snapshots", fakeCommit))
	if len(ents) != 2 {
		t.Errorf("snapshot holds %d entries, want 2 (no temporary links left)", len(ents))
	}
}
