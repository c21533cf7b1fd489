package hub

import (
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// The expected values follow Python's fnmatch.fnmatchcase, which huggingface_hub's
// allow_patterns and ignore_patterns use (see the fnmatch documentation: '*' also matches
// '/', "[!...]" negates, a ']' first in a class is literal), plus huggingface_hub's rule that
// a pattern ending in '/' means the whole folder.
func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"*.json", "config.json", true},
		{"*.json", "a/b/config.json", true},
		{"data/*.json", "data/sub/f.json", true},
		{"*.bin", "pytorch_model.bin.index.json", false},
		{"*.bin", "pytorch_model-00001-of-00002.bin", true},
		{"?.txt", "a.txt", true},
		{"?.txt", "ab.txt", false},
		{"?.txt", "é.txt", true},
		{"[!a]*", "abc", false},
		{"[!a]*", "bcd", true},
		{"[a-c]x", "bx", true},
		{"[a-c]x", "dx", false},
		{"[]]", "]", true},
		{"[!]]", "a", true},
		{"[!]]", "]", false},
		{"[a-]", "-", true},
		{"[z-a]", "m", false},
		{"tokenizer/", "tokenizer/a/b", true},
		{"tokenizer/", "tokenizer.json", false},
		{"*", "", true},
		{"", "", true},
		{"", "a", false},
		{"*a*b", "xaxxb", true},
		{"*a*b", "xaxxbc", false},
		{"Model*", "model.bin", false},
		{"a*", "a", true},
		{"*.safetensors", "model.safetensors", true},
		{"model-*-of-*.safetensors", "model-00001-of-00003.safetensors", true},
		{"**/*.md", "README.md", false},
		{"**/*.md", "docs/README.md", true},
		{".*", ".gitattributes", true},
	}
	for _, tt := range tests {
		got, err := Match(tt.pattern, tt.name)
		if err != nil || got != tt.want {
			t.Errorf("Match(%q, %q) = %v, %v; want %v", tt.pattern, tt.name, got, err, tt.want)
		}
		if ref := refMatch(tt.pattern, tt.name); ref != tt.want {
			t.Errorf("reference matcher disagrees with the table on (%q, %q)", tt.pattern, tt.name)
		}
	}
	for _, bad := range []string{"[", "a[b", "[!", "[]"} {
		if _, err := Match(bad, "x"); err == nil {
			t.Errorf("Match(%q): no error for an unclosed class", bad)
		}
	}
}

// refMatch translates an fnmatch pattern to a regular expression the way Python's
// fnmatch.translate does, and lets the regexp package decide: an independent implementation
// to check the backtracking matcher against.
func refMatch(pattern, name string) bool {
	if strings.HasSuffix(pattern, "/") {
		pattern += "*"
	}
	var re strings.Builder
	re.WriteString(`(?s)\A`)
	rs := []rune(pattern)
	for i := 0; i < len(rs); i++ {
		switch c := rs[i]; c {
		case '*':
			re.WriteString(`.*`)
		case '?':
			re.WriteString(`.`)
		case '[':
			j := i + 1
			if j < len(rs) && rs[j] == '!' {
				j++
			}
			if j < len(rs) && rs[j] == ']' {
				j++
			}
			for j < len(rs) && rs[j] != ']' {
				j++
			}
			if j >= len(rs) {
				return false // unclosed: Match reports an error instead
			}
			body := rs[i+1 : j]
			neg := len(body) > 0 && body[0] == '!'
			if neg {
				body = body[1:]
			}
			var parts []string
			for k := 0; k < len(body); k++ {
				lo, hi := body[k], body[k]
				if k+2 < len(body) && body[k+1] == '-' {
					hi = body[k+2]
					k += 2
				}
				if lo <= hi {
					parts = append(parts, fmt.Sprintf(`\x{%x}-\x{%x}`, lo, hi))
				}
			}
			switch {
			case len(parts) == 0 && neg:
				re.WriteString(`.`)
			case len(parts) == 0:
				re.WriteString(`[^\x00-\x{10FFFF}]`)
			case neg:
				re.WriteString(`[^` + strings.Join(parts, "") + `]`)
			default:
				re.WriteString(`[` + strings.Join(parts, "") + `]`)
			}
			i = j
		default:
			re.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	re.WriteString(`\z`)
	return regexp.MustCompile(re.String()).MatchString(name)
}

func FuzzMatch(f *testing.F) {
	for _, s := range [][2]string{{"*.json", "a/config.json"}, {"[!a-c]?*x", "dzzx"}, {"[]]*", "]]"}, {"*a*a*a", "aaaa"}, {"tok/", "tok/x"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, name string) {
		if len(pattern) > 64 || len(name) > 64 {
			return
		}
		got, err := Match(pattern, name)
		if err != nil {
			return
		}
		if !utf8.ValidString(pattern) || !utf8.ValidString(name) {
			return
		}
		if ref := refMatch(pattern, name); got != ref {
			t.Errorf("Match(%q, %q) = %v, reference says %v", pattern, name, got, ref)
		}
	})
}

func TestFilterAndDefaults(t *testing.T) {
	names := []string{"config.json", "model.safetensors", "pytorch_model.bin", "pytorch_model.bin.index.json", "tf_model.h5", "README.md"}
	got, err := Filter(names, nil, DefaultExcludes(names))
	if err != nil {
		t.Fatal(err)
	}
	if want := "config.json model.safetensors README.md"; strings.Join(got, " ") != want {
		t.Errorf("with safetensors: %v, want %s", got, want)
	}
	noST := []string{"config.json", "pytorch_model.bin"}
	if ex := DefaultExcludes(noST); ex != nil {
		t.Errorf("no safetensors: excludes %v, want none (the .bin is the only weight file)", ex)
	}
	if _, err := Filter(names, []string{"[x"}, nil); err == nil {
		t.Error("Filter accepted an unclosed class")
	}
}

func TestValidateFileName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"config.json", true},
		{"a/b/c.txt", true},
		{"..foo", true},
		{"foo..", true},
		{".gitattributes", true},
		{"", false},
		{"..", false},
		{"../x", false},
		{"a/../b", false},
		{"a/./b", false},
		{"a/", false},
		{"/abs", false},
		{`a\b`, false},
		{"C:x", false},
		{"a\nb", false},
		{"a\x7fb", false},
	}
	for _, tt := range tests {
		if err := ValidateFileName(tt.name); (err == nil) != tt.ok {
			t.Errorf("ValidateFileName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func FuzzValidateFileName(f *testing.F) {
	for _, s := range []string{"config.json", "a/b", "../x", "a/../../b", "/x", "a//b", `a\b`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if ValidateFileName(name) != nil {
			return
		}
		base := filepath.Join(string(filepath.Separator)+"cache", "snapshots", "c")
		p := filepath.Join(base, filepath.FromSlash(name))
		if !strings.HasPrefix(p, base+string(filepath.Separator)) {
			t.Fatalf("%q passed but lands at %s, outside %s", name, p, base)
		}
		if filepath.ToSlash(filepath.Clean(filepath.FromSlash(name))) != name {
			t.Fatalf("%q passed but is not clean", name)
		}
		if _, err := pointerPath("/cache/x", "c", name); err != nil {
			t.Fatalf("pointerPath refused %q that ValidateFileName accepted: %v", name, err)
		}
	})
}

func TestValidateRepoID(t *testing.T) {
	for _, ok := range []string{"gpt2", "Deci/DeciLM-6b-instruct", "a_b/c.d", "meta-llama/Llama-2-7b-hf"} {
		if err := ValidateRepoID(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a/b/c", "/a", "a/", "a--b/c", "a/..", "a/.b", "a/b-", "a b/c", "a/b?x", strings.Repeat("a", 97)} {
		if err := ValidateRepoID(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestNormalizeETag(t *testing.T) {
	tests := []struct{ in, want string }{
		{`"abc"`, "abc"},
		{`W/"abc"`, "abc"},
		{`abc`, "abc"},
		{` "abc" `, "abc"},
		{``, ``},
	}
	for _, tt := range tests {
		if got := NormalizeETag(tt.in); got != tt.want {
			t.Errorf("NormalizeETag(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzContentRangeStart(f *testing.F) {
	for _, s := range []string{"bytes 0-9/10", "bytes 5-9/10", "bytes */10", "bytes -1-2/3", "", "bytes 99999999999999999999-1/2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := contentRangeStart(s)
		if !ok {
			return
		}
		if n < 0 {
			t.Fatalf("%q: negative start %d", s, n)
		}
		if !strings.HasPrefix(s, "bytes ") {
			t.Fatalf("%q accepted without the unit", s)
		}
	})
}

// TestGitBlobSHA1 checks the test server's etag for non-LFS files against git itself
// (`printf '{"model_type": "deci"}' | git hash-object --stdin`).
func TestGitBlobSHA1(t *testing.T) {
	if got, want := gitBlobSHA1([]byte(`{"model_type": "deci"}`)), "2d11372ea07e18ffa33b1dc66d5942252da669c2"; got != want {
		t.Errorf("gitBlobSHA1 = %s, want %s", got, want)
	}
}

func FuzzMetaFrom(f *testing.F) {
	f.Add(`"2d11372ea07e18ffa33b1dc66d5942252da669c2"`, "", "22", 200)
	f.Add(`W/"abc"`, `"78cd489d2a7df2bde942d0f159e3601b31bb5da5f28ec71d73a5350478a97c20"`, "1234", 302)
	f.Add(`"../../x"`, "", "-1", 200)
	f.Add("", `"a/b"`, "99999999999999999999", 307)
	f.Fuzz(func(t *testing.T, etag, linked, size string, status int) {
		resp := &http.Response{StatusCode: status, Header: http.Header{}}
		resp.Header.Set("ETag", etag)
		if linked != "" {
			resp.Header.Set("X-Linked-Etag", linked)
			resp.Header.Set("X-Linked-Size", size)
		} else {
			resp.Header.Set("Content-Length", size)
		}
		m, err := metaFrom(resp, "f", "http://h/f", "c", "test")
		if err != nil {
			return
		}
		if validateComponent("etag", m.etag) != nil || strings.ContainsAny(m.etag, `/\`) || m.etag == ".." {
			t.Fatalf("accepted the etag %q", m.etag)
		}
		if m.size < 0 {
			t.Fatalf("accepted the size %d", m.size)
		}
	})
}
