package hub

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestNoNetworkFailsFast: a refused connection is not retried (it used to take 31 s of
// back-off with the default settings), and the error says what to do.
func TestNoNetworkFailsFast(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	var note strings.Builder
	c := &Client{Endpoint: "http://" + addr, Cache: t.TempDir(), Progress: &note} // default retries and delays
	start := time.Now()
	_, err = c.Download(context.Background(), "o/m", Options{})
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v", d)
	}
	if err == nil || !strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), "cannot reach http://"+addr) ||
		!strings.Contains(err.Error(), "HF_HUB_OFFLINE") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(note.String(), "retrying") {
		t.Errorf("retried: %s", note.String())
	}
}

// TestRetryAfter: a 429 is retried after the wait its Retry-After asks for; a wait longer
// than maxRetryAfter is not waited for.
func TestRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		retryAfter string
		wantCalls  int32
		minWait    time.Duration
		wantErr    string
	}{
		{"1", 2, time.Second, "404"},
		{"3600", 1, 0, "asks to wait 1h0m0s"},
	} {
		var calls atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if calls.Add(1) == 1 {
				w.Header().Set("Retry-After", tc.retryAfter)
				w.WriteHeader(http.StatusTooManyRequests)
				return
			}
			w.Header().Set("X-Error-Code", "RepoNotFound")
			w.WriteHeader(http.StatusNotFound)
		}))
		c := &Client{Endpoint: srv.URL, Cache: t.TempDir(), RetryDelay: time.Millisecond}
		start := time.Now()
		_, err := c.Download(context.Background(), "o/m", Options{})
		d := time.Since(start)
		srv.Close()
		if calls.Load() != tc.wantCalls || d < tc.minWait || d > tc.minWait+5*time.Second {
			t.Errorf("Retry-After %s: %d requests in %v, want %d after at least %v", tc.retryAfter, calls.Load(), d, tc.wantCalls, tc.minWait)
		}
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("Retry-After %s: err = %v, want %q", tc.retryAfter, err, tc.wantErr)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 7, 2, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		v    string
		want time.Duration
	}{
		{"", 0}, {"0", 0}, {"-5", 0}, {"x", 0}, {" 7 ", 7 * time.Second},
		{"99999999999999", 24 * time.Hour},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
	} {
		if got := parseRetryAfter(tc.v, now); got != tc.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tc.v, got, tc.want)
		}
	}
}

func TestIsTransient(t *testing.T) {
	op := func(e error) error {
		return &url.Error{Op: "Get", URL: "https://huggingface.co/x", Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", e)}}
	}
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{op(syscall.ECONNREFUSED), false},
		{op(syscall.ENETUNREACH), false},
		{op(syscall.EHOSTUNREACH), false},
		{op(syscall.ECONNRESET), true},
		{&url.Error{Op: "Get", URL: "u", Err: &net.DNSError{Err: "no such host", Name: "huggingface.co", IsNotFound: true}}, false},
		{&url.Error{Op: "Get", URL: "u", Err: &net.DNSError{Err: "server misbehaving", Name: "huggingface.co", IsTemporary: true}}, false},
		{&url.Error{Op: "Get", URL: "u", Err: &net.DNSError{Err: "i/o timeout", Name: "huggingface.co", IsTimeout: true}}, true},
		{&url.Error{Op: "Get", URL: "u", Err: x509.UnknownAuthorityError{}}, false},
		{&url.Error{Op: "Get", URL: "u", Err: errors.New(`unsupported protocol scheme "ftp"`)}, false},
		{fmt.Errorf("reading: %w", io.ErrUnexpectedEOF), true},
		{&HTTPError{StatusCode: 429}, true},
		{&HTTPError{StatusCode: 503}, true},
		{&HTTPError{StatusCode: 404}, false},
		{&HTTPError{StatusCode: 401}, false},
		{context.Canceled, false},
	} {
		if got := isTransient(tc.err); got != tc.want {
			t.Errorf("isTransient(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
