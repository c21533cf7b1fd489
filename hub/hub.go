// Package hub downloads model and dataset repositories from the Hugging Face Hub into the
// cache that huggingface_hub uses, so that files fetched by either are shared with the other.
//
// The cache layout, under $HF_HUB_CACHE (default $HF_HOME/hub, default
// ~/.cache/huggingface/hub), is one folder per repository:
//
//	models--Deci--DeciLM-6b-instruct/
//	    blobs/<etag>                       file contents, named by their etag (sha256 for LFS files)
//	    blobs/<etag>.incomplete            a download in progress, resumed with a Range request
//	    refs/main                          the commit hash the branch pointed to
//	    snapshots/<commit>/<file>          relative symbolic links to ../../blobs/<etag>
//
// A Client resolves a revision to a commit with the hub's revision API, asks each missing
// file's etag and size with a HEAD request on its resolve URL at that commit (a redirect to
// another host, the CDN, is not followed), then downloads the missing blobs in parallel from
// the resolve URL (following the redirect, without the token), resuming after failures with
// Range requests and checking LFS files against their sha256 before an atomic rename into
// blobs/. Nothing enters snapshots/ until every selected file is complete.
package hub

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// DefaultEndpoint is the hub's address, used when HF_ENDPOINT is not set.
const DefaultEndpoint = "https://huggingface.co"

// Errors that the failures of this package wrap; test for them with errors.Is.
var (
	// ErrRepoNotFound: the repository does not exist (or is private and no valid token was sent).
	ErrRepoNotFound = errors.New("repository not found")
	// ErrRevisionNotFound: the repository exists but not the branch, tag or commit asked for.
	ErrRevisionNotFound = errors.New("revision not found")
	// ErrEntryNotFound: a file is not in the repository at that revision.
	ErrEntryNotFound = errors.New("file not found")
	// ErrAccessDenied: 401 or 403; the repository is gated or private, or the token is wrong.
	ErrAccessDenied = errors.New("access denied")
	// ErrChecksum: a downloaded file's sha256 differs from its etag; the partial file is deleted.
	ErrChecksum = errors.New("checksum mismatch")
	// ErrUnsafePath: a name from the server would escape the cache folder; it is refused.
	ErrUnsafePath = errors.New("unsafe path")
	// ErrNotCached: offline, and the cache does not hold what was asked for.
	ErrNotCached = errors.New("not in the cache")
)

// Client downloads repositories from a hub into a cache. The zero value uses the default
// endpoint and cache with no token; NewClient reads them from the environment. Change fields
// before the first call; a Client may then be used by several goroutines.
type Client struct {
	// Endpoint is the hub's base URL, without a trailing slash (HF_ENDPOINT).
	Endpoint string
	// Token, when not empty, is sent as "Authorization: Bearer" to the endpoint's host
	// (HF_TOKEN, or the token file).
	Token string
	// Cache is the hub cache folder (HF_HUB_CACHE); "" means CacheDir(nil).
	Cache string
	// HTTP sends the requests; nil means http.DefaultClient. Its redirect policy is replaced
	// (HEAD requests follow none, downloads up to 10 and send the token to the endpoint only);
	// an overall Timeout would cut long downloads, StallTimeout is the one to set.
	HTTP *http.Client
	// Progress, when not nil, receives one progress display for all downloads of a call.
	Progress io.Writer
	// ProgressInterval is how often the display is redrawn; 0 means 500ms on a terminal and
	// 10s elsewhere (a log).
	ProgressInterval time.Duration
	// Concurrency is how many files are downloaded at once; 0 means 8.
	Concurrency int
	// Offline forbids any network access: only the cache is used (HF_HUB_OFFLINE).
	Offline bool
	// Retries is how many times a download that stops making progress (a dropped connection,
	// a 5xx or 429 answer) is resumed before giving up; 0 means 5, negative means none.
	Retries int
	// RetryDelay is the wait before the first retry, doubled each time; 0 means 1s.
	RetryDelay time.Duration
	// StallTimeout abandons (and retries) a request that receives nothing for this long: no
	// answer to a metadata request, or no byte of a download; 0 means 30s.
	StallTimeout time.Duration
	// UserAgent is sent with every request; "" means "decilm".
	UserAgent string
}

// Options selects what Download fetches.
type Options struct {
	// RepoType is RepoModel ("" means model) or RepoDataset.
	RepoType string
	// Revision is a branch, tag or commit hash; "" means main.
	Revision string
	// Include keeps only the files matching one of these patterns (see Match); empty keeps all,
	// except that a model with safetensors weights then skips its other weight formats (see
	// DefaultExcludes).
	Include []string
	// Exclude drops the files matching one of these patterns.
	Exclude []string
}

// NewClient returns a Client configured from the environment as huggingface_hub reads it:
// HF_ENDPOINT, HF_HUB_CACHE (or HUGGINGFACE_HUB_CACHE, or $HF_HOME/hub, with HF_HOME
// defaulting to $XDG_CACHE_HOME/huggingface or ~/.cache/huggingface), HF_TOKEN (or
// HUGGING_FACE_HUB_TOKEN, or the file at HF_TOKEN_PATH, default $HF_HOME/token; none when
// HF_HUB_DISABLE_IMPLICIT_TOKEN is true) and HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE).
func NewClient() *Client {
	return newClientEnv(os.Getenv)
}

func newClientEnv(getenv func(string) string) *Client {
	home := HomeDir(getenv)
	c := &Client{
		Endpoint: strings.TrimRight(getenv("HF_ENDPOINT"), "/"),
		Cache:    CacheDir(getenv),
		Offline:  isTrue(getenv("HF_HUB_OFFLINE")) || isTrue(getenv("TRANSFORMERS_OFFLINE")),
	}
	if c.Endpoint == "" {
		c.Endpoint = DefaultEndpoint
	}
	if !isTrue(getenv("HF_HUB_DISABLE_IMPLICIT_TOKEN")) {
		c.Token = cleanToken(getenv("HF_TOKEN"))
		if c.Token == "" {
			c.Token = cleanToken(getenv("HUGGING_FACE_HUB_TOKEN"))
		}
		if c.Token == "" {
			path := expandPath(getenv("HF_TOKEN_PATH"), getenv)
			if path == "" {
				path = filepath.Join(home, "token")
			}
			if b, err := os.ReadFile(path); err == nil {
				c.Token = cleanToken(string(b))
			}
		}
	}
	return c
}

// HomeDir returns the Hugging Face home folder from getenv (os.Getenv when nil): HF_HOME, or
// $XDG_CACHE_HOME/huggingface, or ~/.cache/huggingface.
func HomeDir(getenv func(string) string) string {
	if getenv == nil {
		getenv = os.Getenv
	}
	if h := expandPath(getenv("HF_HOME"), getenv); h != "" {
		return h
	}
	if x := expandPath(getenv("XDG_CACHE_HOME"), getenv); x != "" {
		return filepath.Join(x, "huggingface")
	}
	return filepath.Join(userHome(getenv), ".cache", "huggingface")
}

// CacheDir returns the hub cache folder from getenv (os.Getenv when nil): HF_HUB_CACHE, or
// HUGGINGFACE_HUB_CACHE, or HomeDir/hub.
func CacheDir(getenv func(string) string) string {
	if getenv == nil {
		getenv = os.Getenv
	}
	for _, k := range []string{"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"} {
		if d := expandPath(getenv(k), getenv); d != "" {
			return d
		}
	}
	return filepath.Join(HomeDir(getenv), "hub")
}

// expandPath expands $VARS and a leading ~ as Python's expandvars and expanduser do.
func expandPath(p string, getenv func(string) string) string {
	if p == "" {
		return ""
	}
	p = os.Expand(p, func(k string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return "$" + k // expandvars leaves unknown variables alone
	})
	if p == "~" || strings.HasPrefix(p, "~/") {
		p = userHome(getenv) + p[1:]
	}
	return p
}

func userHome(getenv func(string) string) string {
	if h := getenv("HOME"); h != "" {
		return h
	}
	if h, err := os.UserHomeDir(); err == nil {
		return h
	}
	return "."
}

// isTrue follows huggingface_hub: "1", "ON", "YES" and "TRUE" in any case are true.
func isTrue(v string) bool {
	switch strings.ToUpper(strings.TrimSpace(v)) {
	case "1", "ON", "YES", "TRUE":
		return true
	}
	return false
}

func cleanToken(t string) string {
	return strings.TrimSpace(strings.NewReplacer("\r", "", "\n", "").Replace(t))
}

// HTTPError is an unexpected answer from the hub. It wraps one of the Err values when the
// status says which failure it is.
type HTTPError struct {
	// URL is the address asked, with any password redacted.
	URL string
	// StatusCode is the HTTP status of the answer.
	StatusCode int
	// Code and Message are the hub's X-Error-Code and X-Error-Message headers, if any.
	Code, Message string
	// What says what was being fetched, e.g. `model Deci/DeciLM-6b-instruct at revision "main"`.
	What string
	// TokenSent tells whether an Authorization header went with the request.
	TokenSent bool
	// Page is the repository's web page, where a gated repository's conditions are accepted.
	Page string
	// RetryAfter is the wait the answer's Retry-After header asks for (429, 503), or 0.
	RetryAfter time.Duration
	kind       error
}

// Error explains the failure and, for 401 and 403, what to do about it.
func (e *HTTPError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d %s", e.What, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Message != "" {
		fmt.Fprintf(&b, " (%s)", e.Message)
	}
	switch e.kind {
	case ErrRevisionNotFound:
		b.WriteString(": the revision does not exist in this repository")
	case ErrEntryNotFound:
		b.WriteString(": the file does not exist at this revision")
	case ErrRepoNotFound:
		b.WriteString(": repository not found; check the owner/name")
		if e.StatusCode == http.StatusUnauthorized && !e.TokenSent {
			b.WriteString(" (if it is private or gated, set HF_TOKEN to a token with access)")
		}
	case ErrAccessDenied:
		if e.Code == "GatedRepo" || e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden {
			b.WriteString(": the repository is gated or private; ")
			if e.Page != "" {
				fmt.Fprintf(&b, "request access at %s, then ", e.Page)
			} else {
				b.WriteString("request access on its hub page, then ")
			}
		}
		if e.TokenSent {
			b.WriteString("check that the token in HF_TOKEN (or the token file, or --token) has read access to it")
		} else {
			b.WriteString("set HF_TOKEN to an access token (or log in with `hf auth login`, which writes the token file, or pass --token); no token was sent")
		}
	}
	fmt.Fprintf(&b, " [%s]", e.URL)
	return b.String()
}

// Unwrap returns the Err value that classifies the failure, if any.
func (e *HTTPError) Unwrap() error { return e.kind }

// temporary reports whether retrying the request may succeed.
func (e *HTTPError) temporary() bool {
	return e.StatusCode == http.StatusTooManyRequests || e.StatusCode == http.StatusRequestTimeout || e.StatusCode >= 500
}

// statusError turns a failed response into an *HTTPError, classified from the status and the
// hub's X-Error-Code header; notFound classifies a 404 that carries no X-Error-Code.
func statusError(resp *http.Response, what string, tokenSent bool, notFound error) *HTTPError {
	e := &HTTPError{
		URL:        resp.Request.URL.Redacted(),
		StatusCode: resp.StatusCode,
		Code:       resp.Header.Get("X-Error-Code"),
		Message:    resp.Header.Get("X-Error-Message"),
		What:       what,
		TokenSent:  tokenSent,
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
	}
	switch {
	case e.Code == "RevisionNotFound":
		e.kind = ErrRevisionNotFound
	case e.Code == "EntryNotFound":
		e.kind = ErrEntryNotFound
	case e.Code == "GatedRepo":
		e.kind = ErrAccessDenied
	case e.Code == "RepoNotFound":
		e.kind = ErrRepoNotFound
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		e.kind = ErrAccessDenied
	case resp.StatusCode == http.StatusNotFound:
		e.kind = notFound
	}
	return e
}
