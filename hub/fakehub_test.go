package hub

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeHub is a test server that speaks the parts of the Hugging Face Hub protocol that
// huggingface_hub uses: the revision API, HEAD/GET on resolve URLs with ETag, X-Linked-Etag,
// X-Linked-Size and X-Repo-Commit, 302 redirects of LFS files to a second host (the "CDN")
// that honours Range requests, and the hub's X-Error-Code on failures. Faults can be set per
// file.
type fakeHub struct {
	t   *testing.T
	hub *httptest.Server
	cdn *httptest.Server

	mu    sync.Mutex
	repos map[string]*fakeRepo // key: "model:owner/name"
	blobs map[string]*fakeFile // key: sha256 of LFS content
	log   []fakeReq
	// gets counts GETs of each file's bytes, by file name.
	gets map[string]int
	// Each redirect to the CDN carries a new signature that the CDN accepts once, as signed
	// URLs that expire would: a resumed download must go back to the hub for a fresh one.
	sigs    int
	usedSig map[string]bool
}

type fakeRepo struct {
	refs  map[string]string // revision -> commit
	files []*fakeFile       // at the one commit
	token string            // when set, requests must carry it (a gated repo)
	// renamedTo, when set, answers resolve requests with a relative redirect to the new name.
	renamedTo string
	// commitOver, when set, is the X-Repo-Commit of resolve answers (an inconsistent hub).
	commitOver string
}

type fakeFile struct {
	name    string
	content []byte
	lfs     bool
	// Faults.
	dropAfter   int           // first GET: send this many bytes, then drop the connection
	dropTimes   int           // how many GETs drop (default 1 when dropAfter > 0)
	corrupt     bool          // serve the content with a byte flipped
	slow        time.Duration // pause before each 1 kB chunk
	ignoreRange bool          // answer Range requests with the whole file
	etagOver    string        // ETag to announce instead of the real one
	stallAfter  int           // first GET: send this many bytes, then nothing until the client leaves
	failStatus  int           // answer the first failTimes GETs with this status
	failTimes   int
}

type fakeReq struct {
	method, host, path, rangeHdr, auth, ua string
}

func (f *fakeFile) sha256() string {
	s := sha256.Sum256(f.content)
	return hex.EncodeToString(s[:])
}

// gitBlobSHA1 is git's object id for a file: sha1 of "blob <size>\x00" + content. The hub
// sends it as the ETag of files not stored with LFS.
func gitBlobSHA1(b []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(b))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

func (f *fakeFile) etag() string {
	if f.etagOver != "" {
		return f.etagOver
	}
	if f.lfs {
		return f.sha256()
	}
	return gitBlobSHA1(f.content)
}

func newFakeHub(t *testing.T) *fakeHub {
	h := &fakeHub{t: t, repos: map[string]*fakeRepo{}, blobs: map[string]*fakeFile{}, gets: map[string]int{}, usedSig: map[string]bool{}}
	h.hub = httptest.NewServer(http.HandlerFunc(h.serveHub))
	h.cdn = httptest.NewServer(http.HandlerFunc(h.serveCDN))
	t.Cleanup(func() {
		h.hub.CloseClientConnections()
		h.cdn.CloseClientConnections()
		h.hub.Close()
		h.cdn.Close()
	})
	return h
}

const fakeCommit = "0123456789abcdef0123456789abcdef01234567"

// addRepo registers a repository whose main branch is at fakeCommit.
func (h *fakeHub) addRepo(repoType, id string, files ...*fakeFile) *fakeRepo {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := &fakeRepo{refs: map[string]string{"main": fakeCommit, fakeCommit: fakeCommit}, files: files}
	h.repos[repoType+":"+id] = r
	for _, f := range files {
		if f.lfs {
			h.blobs[f.sha256()] = f
		}
	}
	return r
}

func (h *fakeHub) record(r *http.Request) {
	h.mu.Lock()
	h.log = append(h.log, fakeReq{r.Method, r.Host, r.URL.EscapedPath(), r.Header.Get("Range"), r.Header.Get("Authorization"), r.Header.Get("User-Agent")})
	h.mu.Unlock()
}

func (h *fakeHub) requests() []fakeReq {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]fakeReq(nil), h.log...)
}

// fileGets returns how many GETs of name's bytes the servers answered.
func (h *fakeHub) fileGets(name string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.gets[name]
}

func hubError(w http.ResponseWriter, status int, code, msg string) {
	if code != "" {
		w.Header().Set("X-Error-Code", code)
	}
	w.Header().Set("X-Error-Message", msg)
	http.Error(w, msg, status)
}

func (h *fakeHub) serveHub(w http.ResponseWriter, r *http.Request) {
	h.record(r)
	p := r.URL.EscapedPath()
	if rest, ok := strings.CutPrefix(p, "/api/"); ok {
		h.serveAPI(w, r, rest)
		return
	}
	repoType := RepoModel
	if rest, ok := strings.CutPrefix(p, "/datasets/"); ok {
		repoType, p = RepoDataset, "/"+rest
	}
	// /{owner}/{name}/resolve/{rev}/{file...}
	parts := strings.SplitN(strings.TrimPrefix(p, "/"), "/", 5)
	if len(parts) < 5 || parts[2] != "resolve" {
		hubError(w, 404, "", "no route")
		return
	}
	id := parts[0] + "/" + parts[1]
	rev, _ := url.PathUnescape(parts[3])
	file, _ := url.PathUnescape(parts[4])
	h.mu.Lock()
	repo := h.repos[repoType+":"+id]
	h.mu.Unlock()
	if repo == nil {
		hubError(w, 401, "RepoNotFound", "Repository not found")
		return
	}
	if repo.renamedTo != "" {
		prefix := ""
		if repoType == RepoDataset {
			prefix = "/datasets"
		}
		http.Redirect(w, r, prefix+"/"+repo.renamedTo+"/resolve/"+parts[3]+"/"+parts[4], http.StatusTemporaryRedirect)
		return
	}
	// As on the hub, a gated repository lists its files to anyone but serves them only to
	// tokens with access: 401 without a token, 403 with one that has no access.
	if auth := r.Header.Get("Authorization"); repo.token != "" && auth != "Bearer "+repo.token {
		if auth == "" {
			hubError(w, 401, "GatedRepo", "Access to model "+id+" is restricted. You must have access to it and be authenticated to access it. Please log in.")
		} else {
			hubError(w, 403, "GatedRepo", "Access to model "+id+" is restricted and you are not in the authorized list.")
		}
		return
	}
	commit, ok := repo.refs[rev]
	if !ok {
		hubError(w, 404, "RevisionNotFound", "Invalid rev id: "+rev)
		return
	}
	var f *fakeFile
	for _, x := range repo.files {
		if x.name == file {
			f = x
		}
	}
	if repo.commitOver != "" {
		commit = repo.commitOver
	}
	w.Header().Set("X-Repo-Commit", commit)
	if f == nil {
		hubError(w, 404, "EntryNotFound", "Entry not found")
		return
	}
	if f.lfs {
		w.Header().Set("X-Linked-Etag", `"`+f.etag()+`"`)
		w.Header().Set("X-Linked-Size", strconv.Itoa(len(f.content)))
		w.Header().Set("ETag", `"`+gitBlobSHA1([]byte("pointer "+f.name))+`"`)
		h.mu.Lock()
		h.sigs++
		sig := strconv.Itoa(h.sigs)
		h.mu.Unlock()
		http.Redirect(w, r, h.cdn.URL+"/blob/"+f.sha256()+"?sig="+sig, http.StatusFound)
		return
	}
	w.Header().Set("ETag", `W/"`+f.etag()+`"`)
	h.serveBytes(w, r, f)
}

func (h *fakeHub) serveAPI(w http.ResponseWriter, r *http.Request, rest string) {
	// {models|datasets}/{owner}/{name}/revision/{rev}
	parts := strings.SplitN(rest, "/", 5)
	if len(parts) != 5 || parts[3] != "revision" || (parts[0] != "models" && parts[0] != "datasets") {
		hubError(w, 404, "", "no route")
		return
	}
	repoType := strings.TrimSuffix(parts[0], "s")
	id := parts[1] + "/" + parts[2]
	rev, _ := url.PathUnescape(parts[4])
	h.mu.Lock()
	repo := h.repos[repoType+":"+id]
	h.mu.Unlock()
	if repo == nil {
		hubError(w, 401, "RepoNotFound", "Repository not found")
		return
	}
	commit, ok := repo.refs[rev]
	if !ok {
		hubError(w, 404, "RevisionNotFound", "Invalid rev id: "+rev)
		return
	}
	type sib struct {
		RFilename string `json:"rfilename"`
	}
	out := struct {
		ID       string `json:"id"`
		SHA      string `json:"sha"`
		Siblings []sib  `json:"siblings"`
	}{ID: id, SHA: commit}
	for _, f := range repo.files {
		out.Siblings = append(out.Siblings, sib{f.name})
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

func (h *fakeHub) serveCDN(w http.ResponseWriter, r *http.Request) {
	h.record(r)
	sha, ok := strings.CutPrefix(r.URL.Path, "/blob/")
	sig := r.URL.Query().Get("sig")
	h.mu.Lock()
	f := h.blobs[sha]
	used := h.usedSig[sig]
	h.usedSig[sig] = true
	h.mu.Unlock()
	if !ok || f == nil || sig == "" || used {
		http.Error(w, "no such blob, or the signature expired", 403)
		return
	}
	w.Header().Set("ETag", `"`+sha+`"`)
	h.serveBytes(w, r, f)
}

// serveBytes answers HEAD and GET (with an optional "bytes=N-" Range) for f, applying its faults.
func (h *fakeHub) serveBytes(w http.ResponseWriter, r *http.Request, f *fakeFile) {
	content := f.content
	if f.corrupt {
		content = append([]byte(nil), content...)
		content[len(content)/2] ^= 0x55
	}
	if r.Method == http.MethodHead {
		w.Header().Set("Content-Length", strconv.Itoa(len(content)))
		return
	}
	h.mu.Lock()
	h.gets[f.name]++
	n := h.gets[f.name]
	h.mu.Unlock()
	if f.failStatus != 0 && n <= f.failTimes {
		http.Error(w, "try later", f.failStatus)
		return
	}
	start := 0
	if rg := r.Header.Get("Range"); rg != "" && !f.ignoreRange {
		s, ok := strings.CutPrefix(rg, "bytes=")
		s, _, _ = strings.Cut(s, "-")
		v, err := strconv.Atoi(s)
		if !ok || err != nil || v < 0 {
			http.Error(w, "bad range", 400)
			return
		}
		if v >= len(content) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", len(content)))
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return
		}
		start = v
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", v, len(content)-1, len(content)))
	}
	body := content[start:]
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	if start > 0 {
		w.WriteHeader(http.StatusPartialContent)
	} else {
		w.WriteHeader(http.StatusOK)
	}
	drops := f.dropTimes
	if drops == 0 && f.dropAfter > 0 {
		drops = 1
	}
	if n <= drops && f.dropAfter > 0 && f.dropAfter < len(body) {
		w.Write(body[:f.dropAfter])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // drop the connection mid-file
	}
	if n == 1 && f.stallAfter > 0 {
		w.Write(body[:f.stallAfter])
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		return
	}
	if f.slow > 0 {
		for i := 0; i < len(body); i += 1000 {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(f.slow):
			}
			w.Write(body[i:min(i+1000, len(body))])
			w.(http.Flusher).Flush()
		}
		return
	}
	w.Write(body)
}

// client returns a Client for the fake hub with a fresh cache and fast retries.
func (h *fakeHub) client(t *testing.T) *Client {
	return &Client{
		Endpoint:    h.hub.URL,
		Cache:       t.TempDir(),
		RetryDelay:  time.Millisecond,
		Concurrency: 4,
	}
}

// content returns n deterministic pseudo-random bytes.
func content(seed, n int) []byte {
	b := make([]byte, n)
	x := uint32(seed)*2654435761 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}
