package hub

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Download makes sure the files of repo selected by opts are in the cache and returns the
// snapshot folder that holds them (snapshots/<commit>). Files already complete in the cache
// are not fetched again; an interrupted download is resumed from its .incomplete file.
//
// With c.Offline, no request is sent: the snapshot that refs/<revision> names is returned if it
// is in the cache, else an error wrapping ErrNotCached. When the hub cannot be reached (a
// network error or a 5xx answer) and the revision's snapshot is cached, that snapshot is
// returned and a note is written to c.Progress.
func (c *Client) Download(ctx context.Context, repo string, opts Options) (string, error) {
	repoType, revision, err := checkArgs(repo, opts)
	if err != nil {
		return "", err
	}
	what := fmt.Sprintf("%s %s at revision %q", repoType, repo, revision)
	cache := c.Cache
	if cache == "" {
		cache = CacheDir(nil)
	}
	if c.Offline {
		if dir, ok := CachedSnapshot(cache, repoType, repo, revision); ok {
			return dir, nil
		}
		return "", fmt.Errorf("hub: %s: %w (offline mode is on: HF_HUB_OFFLINE is set; unset it to download)", what, ErrNotCached)
	}
	storage := filepath.Join(cache, RepoFolder(repoType, repo))

	info, err := c.repoInfo(ctx, repoType, repo, revision, what)
	if err != nil {
		if ctx.Err() == nil && (isTransient(err) || unreachable(err)) {
			if dir, ok := CachedSnapshot(cache, repoType, repo, revision); ok {
				c.notef("hub: %v\nhub: using the cached snapshot %s\n", err, dir)
				return dir, nil
			}
		}
		return "", fmt.Errorf("hub: %w", c.offlineHint(err))
	}
	commit := info.SHA
	if err := validateComponent("commit hash", commit); err != nil {
		return "", fmt.Errorf("hub: %s: the server sent a bad commit: %w", what, err)
	}
	var names []string
	for _, s := range info.Siblings {
		if err := ValidateFileName(s.RFilename); err != nil {
			return "", fmt.Errorf("hub: %s: refusing the file list from the server: %w", what, err)
		}
		names = append(names, s.RFilename)
	}
	exclude := opts.Exclude
	if repoType == RepoModel && len(opts.Include) == 0 {
		exclude = append(DefaultExcludes(names), exclude...)
	}
	selected, err := Filter(names, opts.Include, exclude)
	if err != nil {
		return "", err
	}
	if len(selected) == 0 {
		return "", fmt.Errorf("hub: %s: no file matches (the repository has %d files; include %q, exclude %q)",
			what, len(names), opts.Include, exclude)
	}

	if err := c.fetchFiles(ctx, repoType, repo, cache, revision, commit, selected); err != nil {
		return "", err
	}
	if err := writeRef(storage, revision, commit); err != nil {
		return "", fmt.Errorf("hub: recording refs/%s: %w", revision, err)
	}
	return filepath.Join(storage, "snapshots", commit), nil
}

// checkArgs validates the repository id and options and fills in the defaults.
func checkArgs(repo string, opts Options) (repoType, revision string, err error) {
	if err := ValidateRepoID(repo); err != nil {
		return "", "", err
	}
	repoType = opts.RepoType
	if repoType == "" {
		repoType = RepoModel
	}
	if repoType != RepoModel && repoType != RepoDataset {
		return "", "", fmt.Errorf("hub: repository type %q: want %q or %q", repoType, RepoModel, RepoDataset)
	}
	revision = opts.Revision
	if revision == "" {
		revision = DefaultRevision
	}
	if err := validateRevision(revision); err != nil {
		return "", "", err
	}
	for _, p := range append(append([]string(nil), opts.Include...), opts.Exclude...) {
		if _, err := Match(p, ""); err != nil {
			return "", "", err
		}
	}
	return repoType, revision, nil
}

// repoInfo is the part of the revision API's answer that Download uses.
type repoInfo struct {
	SHA      string `json:"sha"`
	Siblings []struct {
		RFilename string `json:"rfilename"`
	} `json:"siblings"`
}

// repoInfo asks the hub which commit revision is at and which files it has.
func (c *Client) repoInfo(ctx context.Context, repoType, repo, revision, what string) (*repoInfo, error) {
	u := fmt.Sprintf("%s/api/%ss/%s/revision/%s", c.endpoint(), repoType, repo, url.PathEscape(revision))
	var info *repoInfo
	err := c.retry(ctx, c.notef, func() (bool, error) {
		actx, _, stop := c.watchdog(ctx)
		defer stop()
		req, err := c.newRequest(actx, http.MethodGet, u)
		if err != nil {
			return false, err
		}
		req.Header.Set("Accept", "application/json")
		resp, err := c.httpClient().Do(req)
		if err != nil {
			return false, stalled(actx, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			e := statusError(resp, what, req.Header.Get("Authorization") != "", ErrRepoNotFound)
			e.Page = c.pageURL(repoType, repo)
			return false, e
		}
		var ri repoInfo
		if err := json.NewDecoder(io.LimitReader(resp.Body, 256<<20)).Decode(&ri); err != nil {
			return false, fmt.Errorf("%s: reading %s: %w", what, u, stalled(actx, err))
		}
		if ri.SHA == "" {
			return false, fmt.Errorf("%s: %s: the answer has no commit (\"sha\")", what, u)
		}
		info = &ri
		return false, nil
	})
	return info, err
}

// fileMeta is what the HEAD request on a file's resolve URL tells.
type fileMeta struct {
	name string
	etag string // normalized; names the blob
	size int64
	// url is the file's resolve URL at the commit (after relative redirects). Each download
	// attempt starts there, so that the signed CDN address it redirects to is always fresh.
	url string
}

// fetchFiles brings every file of names into blobs/ and then links them all into
// snapshots/<commit>/, so that a failure leaves no new link behind.
func (c *Client) fetchFiles(ctx context.Context, repoType, repo, cache, revision, commit string, names []string) error {
	storage := filepath.Join(cache, RepoFolder(repoType, repo))
	var missing []string
	for _, n := range names {
		if !pointerComplete(storage, commit, n) {
			missing = append(missing, n)
		}
	}
	if len(missing) == 0 {
		c.notef("hub: all %d files of %s %s at %s are in the cache\n", len(names), repoType, repo, commit)
		return nil
	}

	// huggingface_hub's cache scanner calls a repository folder without snapshots/ corrupt, so
	// make it (empty) before any blob lands; snapshots/<commit> only comes with its links.
	if err := os.MkdirAll(filepath.Join(storage, "snapshots"), 0o755); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	prog := newProgress(c.Progress, c.ProgressInterval, len(missing))
	defer prog.stop()

	// Phase 1: metadata of every missing file, so that the display knows the total size.
	metas := make([]fileMeta, len(missing))
	err := c.parallel(ctx, len(missing), func(ctx context.Context, i int) error {
		m, err := c.headFile(ctx, repoType, repo, revision, commit, missing[i], prog.notef)
		metas[i] = m
		return err
	})
	if err != nil {
		return fmt.Errorf("hub: %w", err)
	}

	// Phase 2: download each distinct blob once.
	byEtag := map[string]fileMeta{}
	var blobs []fileMeta
	for _, m := range metas {
		if prev, dup := byEtag[m.etag]; dup {
			if prev.size != m.size {
				return fmt.Errorf("hub: %s and %s have the same etag %s but sizes %d and %d", prev.name, m.name, m.etag, prev.size, m.size)
			}
			prog.addFiles(-1)
			continue
		}
		byEtag[m.etag] = m
		blobs = append(blobs, m)
		prog.addTotal(m.size)
	}
	c.checkSpace(storage, blobs, prog)
	// Largest first: the long downloads start at once and the small ones fill in around them.
	sort.SliceStable(blobs, func(i, j int) bool { return blobs[i].size > blobs[j].size })
	lockDir := filepath.Join(cache, ".locks", RepoFolder(repoType, repo))
	err = c.parallel(ctx, len(blobs), func(ctx context.Context, i int) error {
		err := c.fetchBlob(ctx, storage, lockDir, blobs[i], prog)
		if err == nil {
			prog.fileDone()
		}
		return err
	})
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		return fmt.Errorf("hub: %s %s: %w", repoType, repo, err)
	}

	// Phase 3: the snapshot links, only now that every blob is in place.
	for _, m := range metas {
		if err := linkPointer(storage, commit, m.name, m.etag); err != nil {
			return fmt.Errorf("hub: linking %s: %w", m.name, err)
		}
	}
	return nil
}

// checkSpace warns when the blobs still to fetch need more room than the disk has: the
// download would fail with the disk full (leaving resumable .incomplete files).
func (c *Client) checkSpace(storage string, blobs []fileMeta, prog *progress) {
	var need int64
	for _, m := range blobs {
		blob := filepath.Join(storage, "blobs", m.etag)
		if _, err := os.Stat(blob); err == nil {
			continue
		}
		need += m.size
		if st, err := os.Stat(blob + ".incomplete"); err == nil && st.Size() <= m.size {
			need -= st.Size()
		}
	}
	os.MkdirAll(storage, 0o755)
	if free := freeSpace(storage); free >= 0 && need > free {
		prog.notef("hub: warning: the download needs %s more but only %s is free in %s\n",
			formatBytes(need), formatBytes(free), storage)
	}
}

// parallel runs f(0..n-1) on up to c.Concurrency goroutines; the first error cancels the rest
// and is returned (a cancellation of ctx itself is returned as ctx's error).
func (c *Client) parallel(ctx context.Context, n int, f func(context.Context, int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	workers := c.Concurrency
	if workers <= 0 {
		workers = 8
	}
	if workers > n {
		workers = n
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := f(ctx, i); err != nil {
					cancel(err)
				}
			}
		}()
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	return context.Cause(ctx)
}

// headFile asks the hub for a file's etag and size without following a redirect to another
// host (relative redirects, as for a renamed repository, are followed).
func (c *Client) headFile(ctx context.Context, repoType, repo, revision, commit, name string, note func(string, ...any)) (fileMeta, error) {
	u := c.resolveURL(repoType, repo, commit, name)
	what := fmt.Sprintf("%s %s at revision %q (commit %s), file %s", repoType, repo, revision, commit, name)
	var m fileMeta
	err := c.retry(ctx, note, func() (bool, error) {
		actx, _, stop := c.watchdog(ctx)
		defer stop()
		cur := u
		for hops := 0; ; hops++ {
			req, err := c.newRequest(actx, http.MethodHead, cur)
			if err != nil {
				return false, err
			}
			resp, err := c.noRedirectClient().Do(req)
			if err != nil {
				return false, stalled(actx, err)
			}
			resp.Body.Close()
			if resp.StatusCode >= 300 && resp.StatusCode < 400 {
				loc, err := resp.Location()
				if err != nil {
					return false, fmt.Errorf("%s: redirect without a Location: %w", what, err)
				}
				raw := resp.Header.Get("Location")
				if !strings.HasPrefix(raw, "/") || strings.HasPrefix(raw, "//") {
					// To another host (a CDN): that is where the bytes are, not a rename.
					m, err = metaFrom(resp, name, cur, commit, what)
					return false, err
				}
				if hops >= 10 {
					return false, fmt.Errorf("%s: too many redirects", what)
				}
				cur = loc.String()
				continue
			}
			if resp.StatusCode != http.StatusOK {
				e := statusError(resp, what, req.Header.Get("Authorization") != "", ErrEntryNotFound)
				e.Page = c.pageURL(repoType, repo)
				return false, e
			}
			m, err = metaFrom(resp, name, cur, commit, what)
			return false, err
		}
	})
	return m, err
}

// metaFrom reads a file's metadata from the headers of the answer to its HEAD request, which
// must be for commit when it names one (X-Repo-Commit).
func metaFrom(resp *http.Response, name, resolved, commit, what string) (fileMeta, error) {
	m := fileMeta{name: name, url: resolved}
	if got := resp.Header.Get("X-Repo-Commit"); got != "" && got != commit {
		return m, fmt.Errorf("%s: the hub answered for commit %s, not %s", what, got, commit)
	}
	etag := resp.Header.Get("X-Linked-Etag")
	if etag == "" {
		etag = resp.Header.Get("ETag")
	}
	m.etag = NormalizeETag(etag)
	if m.etag == "" {
		return m, fmt.Errorf("%s: the answer has no ETag, so the file cannot be cached reliably", what)
	}
	if err := validateComponent("etag", m.etag); err != nil {
		return m, fmt.Errorf("%s: %w", what, err)
	}
	size := resp.Header.Get("X-Linked-Size")
	if size == "" && (resp.StatusCode < 300 || resp.StatusCode >= 400) {
		size = resp.Header.Get("Content-Length")
	}
	n, err := strconv.ParseInt(size, 10, 64)
	if err != nil || n < 0 {
		return m, fmt.Errorf("%s: the answer has no valid size (X-Linked-Size or Content-Length %q)", what, size)
	}
	m.size = n
	return m, nil
}

// NormalizeETag turns an ETag header into the name of its blob: the weak prefix W/ and the
// quotes are removed.
func NormalizeETag(etag string) string {
	return strings.Trim(strings.TrimPrefix(strings.TrimSpace(etag), "W/"), `"`)
}

// fetchBlob makes blobs/<etag> hold the file m, resuming blobs/<etag>.incomplete if an earlier
// download left one, and checking the sha256 of LFS files before the final rename.
func (c *Client) fetchBlob(ctx context.Context, storage, lockDir string, m fileMeta, prog *progress) error {
	blobs := filepath.Join(storage, "blobs")
	blob := filepath.Join(blobs, m.etag)
	if st, err := os.Stat(blob); err == nil && st.Mode().IsRegular() && st.Size() == m.size {
		prog.skip(m.size)
		return nil
	}
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		return err
	}
	unlock, err := lockFile(ctx, filepath.Join(lockDir, m.etag+".lock"), func() {
		prog.notef("hub: %s: waiting for another download of it to finish\n", m.name)
	})
	if err != nil {
		return fmt.Errorf("%s: %w", m.name, err)
	}
	defer unlock()
	// Another process may have finished it while we waited for the lock.
	if st, err := os.Stat(blob); err == nil && st.Mode().IsRegular() && st.Size() == m.size {
		prog.skip(m.size)
		return nil
	}

	partial := blob + ".incomplete"
	f, err := os.OpenFile(partial, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	var h hash.Hash
	if isSHA256(m.etag) {
		h = sha256.New()
	}
	// Take up what an earlier download left: its bytes go into the hash and the display.
	have, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	if have > m.size {
		if err := f.Truncate(0); err != nil {
			return err
		}
		have = 0
	}
	if have > 0 && h != nil {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		if _, err := io.CopyN(h, f, have); err != nil {
			return fmt.Errorf("%s: reading %s: %w", m.name, partial, err)
		}
	}
	resumed := have // bytes from disk, not the network: the rate leaves them out
	prog.skip(resumed)

	restart := func() error {
		prog.skip(-resumed)
		prog.add(-(have - resumed))
		have, resumed = 0, 0
		if h != nil {
			h.Reset()
		}
		if err := f.Truncate(0); err != nil {
			return err
		}
		_, err := f.Seek(0, io.SeekStart)
		return err
	}
	err = c.retry(ctx, prog.notef, func() (bool, error) {
		if have == m.size {
			return false, nil
		}
		if _, err := f.Seek(have, io.SeekStart); err != nil {
			return false, err
		}
		actx, kick, stop := c.watchdog(ctx)
		defer stop()
		req, err := c.newRequest(actx, http.MethodGet, m.url)
		if err != nil {
			return false, err
		}
		if have > 0 {
			req.Header.Set("Range", fmt.Sprintf("bytes=%d-", have))
		}
		resp, err := c.redirectClient().Do(req)
		if err != nil {
			return false, stalled(actx, err)
		}
		defer resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			if have > 0 { // the server ignored the Range: start again
				if err := restart(); err != nil {
					return false, err
				}
			}
		case http.StatusPartialContent:
			if start, ok := contentRangeStart(resp.Header.Get("Content-Range")); !ok || start != have {
				if err := restart(); err != nil {
					return false, err
				}
				return true, fmt.Errorf("%s: %w: asked for bytes from %d, got Content-Range %q", m.name, errRetry, have, resp.Header.Get("Content-Range"))
			}
		case http.StatusRequestedRangeNotSatisfiable:
			if err := restart(); err != nil {
				return false, err
			}
			return true, fmt.Errorf("%s: %w: the server refused to resume at byte %d", m.name, errRetry, have)
		default:
			return false, statusError(resp, fmt.Sprintf("downloading %s", m.name), req.Header.Get("Authorization") != "", ErrEntryNotFound)
		}
		before := have
		werr := copyBody(f, resp.Body, h, m.size, &have, prog, kick)
		progressed := have > before
		if werr != nil {
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			if errors.Is(werr, errTooLong) {
				return false, fmt.Errorf("%s: %w", m.name, werr)
			}
			return progressed, fmt.Errorf("%s: %w after %d of %d bytes", m.name, stalled(actx, werr), have, m.size)
		}
		if have != m.size {
			return progressed, fmt.Errorf("%s: %w: connection ended after %d of %d bytes", m.name, errRetry, have, m.size)
		}
		return false, nil
	})
	if err != nil {
		if errors.Is(err, errTooLong) {
			f.Close()
			f = nil
			os.Remove(partial)
			return fmt.Errorf("%w; deleted the partial download %s", err, partial)
		}
		if have == 0 {
			f.Close()
			f = nil
			os.Remove(partial) // nothing to resume: leave no empty file behind
		}
		return err // the .incomplete file stays for the next attempt
	}
	if h != nil {
		if got := hex.EncodeToString(h.Sum(nil)); got != m.etag {
			f.Close()
			f = nil
			rmErr := os.Remove(partial)
			msg := "deleted the partial download"
			if rmErr != nil {
				msg = fmt.Sprintf("could not delete %s: %v", partial, rmErr)
			}
			return fmt.Errorf("%s: %w: sha256 of the downloaded bytes is %s, the hub says %s; %s, run again to retry",
				m.name, ErrChecksum, got, m.etag, msg)
		}
	}
	if err := f.Sync(); err != nil {
		return err
	}
	err = f.Close()
	f = nil
	if err != nil {
		return err
	}
	return os.Rename(partial, blob)
}

var (
	errTooLong = errors.New("the server sent more bytes than the announced size")
	// errRetry marks a failure that a new request may mend (a short body, a wrong range).
	errRetry = errors.New("incomplete answer")
	// errStalled is the cause of a request abandoned by its watchdog.
	errStalled = fmt.Errorf("%w: the server sent nothing for too long", errRetry)
)

// watchdog returns a context for one request that is cancelled with errStalled when kick is
// not called for c.StallTimeout; stop releases it.
func (c *Client) watchdog(ctx context.Context) (actx context.Context, kick, stop func()) {
	d := c.StallTimeout
	if d <= 0 {
		d = 30 * time.Second
	}
	actx, cancel := context.WithCancelCause(ctx)
	t := time.AfterFunc(d, func() { cancel(errStalled) })
	return actx, func() { t.Reset(d) }, func() { t.Stop(); cancel(nil) }
}

// stalled replaces the error of a request that its watchdog abandoned by errStalled, which is
// retried, where the error would otherwise read as a cancellation.
func stalled(actx context.Context, err error) error {
	if context.Cause(actx) == errStalled {
		return fmt.Errorf("%w (%v)", errStalled, err)
	}
	return err
}

// copyBody appends the body to f, feeding the hash and the display, never past size.
func copyBody(f *os.File, body io.Reader, h hash.Hash, size int64, have *int64, prog *progress, kick func()) error {
	buf := make([]byte, 256<<10)
	for {
		n, err := body.Read(buf)
		if n > 0 {
			if *have+int64(n) > size {
				return errTooLong
			}
			if _, werr := f.Write(buf[:n]); werr != nil {
				return werr
			}
			if h != nil {
				h.Write(buf[:n])
			}
			*have += int64(n)
			prog.add(int64(n))
			kick()
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// contentRangeStart parses the first byte position of "bytes START-END/TOTAL".
func contentRangeStart(cr string) (int64, bool) {
	rest, ok := strings.CutPrefix(cr, "bytes ")
	if !ok {
		return 0, false
	}
	start, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(start, 10, 64)
	return n, err == nil && n >= 0
}

// retry runs op until it succeeds, fails for good, or fails transiently more than c.Retries
// times in a row; op returns progressed=true when it moved forward, which resets the count.
func (c *Client) retry(ctx context.Context, note func(string, ...any), op func() (progressed bool, err error)) error {
	max := c.Retries
	if max == 0 {
		max = 5
	}
	delay := c.RetryDelay
	if delay <= 0 {
		delay = time.Second
	}
	left, wait := max, delay
	for {
		progressed, err := op()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !isTransient(err) {
			return err
		}
		if progressed {
			left, wait = max, delay
		}
		if left <= 0 {
			return err
		}
		left--
		pause := wait
		if ra := retryAfter(err); ra > maxRetryAfter {
			return fmt.Errorf("%w (the server asks to wait %v before retrying)", err, ra)
		} else if ra > pause {
			pause = ra
		}
		note("hub: %v; retrying in %v\n", err, pause)
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait *= 2
	}
}

// isTransient reports whether err may go away on retry: a connection reset or cut short, a
// timeout, and 408, 429 and 5xx answers. A refused connection, a failed name lookup or a
// certificate that does not verify will not mend in seconds (no network, a wrong
// HF_ENDPOINT): those fail at once.
func isTransient(err error) bool {
	var he *HTTPError
	if errors.As(err, &he) {
		return he.temporary()
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.Is(err, ErrChecksum) || errors.Is(err, ErrUnsafePath) || errors.Is(err, errTooLong) {
		return false
	}
	if unreachable(err) {
		return false
	}
	var ne net.Error
	var ue *url.Error
	var oe *net.OpError
	switch {
	case errors.As(err, &ne), errors.As(err, &ue), errors.As(err, &oe):
		return true
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF), errors.Is(err, errRetry):
		return true
	}
	return strings.Contains(err.Error(), "connection reset")
}

// unreachable reports whether err says the server cannot be reached at all: the connection
// was refused, the host or network is unreachable, the name does not resolve (except a
// lookup that timed out), the address is malformed or the TLS certificate does not verify.
func unreachable(err error) bool {
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return !dns.IsTimeout
	}
	var addr *net.AddrError
	var cert *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH),
		errors.As(err, &addr), errors.As(err, &cert), errors.As(err, &unknownCA), errors.As(err, &host), errors.As(err, &invalid):
		return true
	}
	var ue *url.Error
	return errors.As(err, &ue) && strings.Contains(ue.Err.Error(), "unsupported protocol scheme")
}

// maxRetryAfter is the longest Retry-After a retry waits for; a server asking for more is
// answered with its error.
const maxRetryAfter = 2 * time.Minute

// retryAfter is the wait an HTTP error's Retry-After header asks for (0 when none).
func retryAfter(err error) time.Duration {
	var he *HTTPError
	if errors.As(err, &he) {
		return he.RetryAfter
	}
	return 0
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date (RFC 9110
// section 10.2.3), relative to now; 0 when absent or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n > int64(24*time.Hour/time.Second) {
			n = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// offlineHint explains an unreachable hub.
func (c *Client) offlineHint(err error) error {
	if !unreachable(err) {
		return err
	}
	return fmt.Errorf("%w\ncannot reach %s: check the network connection (or HF_ENDPOINT); to use only what is cached, set HF_HUB_OFFLINE=1", err, c.endpoint())
}

func (c *Client) endpoint() string {
	if c.Endpoint == "" {
		return DefaultEndpoint
	}
	return strings.TrimRight(c.Endpoint, "/")
}

// pageURL is the repository's web page on the hub.
func (c *Client) pageURL(repoType, repo string) string {
	if repoType == RepoDataset {
		return c.endpoint() + "/datasets/" + repo
	}
	return c.endpoint() + "/" + repo
}

// resolveURL is the address of a file at a revision: {endpoint}/{repo}/resolve/{rev}/{file}
// for models, {endpoint}/datasets/{repo}/resolve/... for datasets.
func (c *Client) resolveURL(repoType, repo, revision, name string) string {
	prefix := ""
	if repoType == RepoDataset {
		prefix = "datasets/"
	}
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return fmt.Sprintf("%s/%s%s/resolve/%s/%s", c.endpoint(), prefix, repo, url.PathEscape(revision), strings.Join(parts, "/"))
}

// newRequest builds a request with the User-Agent, no compression (sizes must be the file's)
// and the token when it goes to the endpoint's own host.
func (c *Client) newRequest(ctx context.Context, method, u string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, err
	}
	ua := c.UserAgent
	if ua == "" {
		ua = "decilm"
	}
	req.Header.Set("User-Agent", ua)
	req.Header.Set("Accept-Encoding", "identity")
	if c.Token != "" {
		if ep, err := url.Parse(c.endpoint()); err == nil && ep.Host == req.URL.Host {
			req.Header.Set("Authorization", "Bearer "+c.Token)
		}
	}
	return req, nil
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

// redirectClient is httpClient following up to 10 redirects, sending the token to the
// endpoint's host only (net/http would keep it for another port of the same host).
func (c *Client) redirectClient() *http.Client {
	cl := *c.httpClient()
	ep, _ := url.Parse(c.endpoint())
	cl.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		if ep == nil || req.URL.Host != ep.Host {
			req.Header.Del("Authorization")
		}
		return nil
	}
	return &cl
}

// noRedirectClient is httpClient that hands back redirects instead of following them.
func (c *Client) noRedirectClient() *http.Client {
	base := c.httpClient()
	cl := *base
	cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cl
}

// notef writes a note to the progress writer, if any.
func (c *Client) notef(format string, args ...any) {
	if c.Progress != nil {
		fmt.Fprintf(c.Progress, format, args...)
	}
}
