package hub

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Match reports whether name matches the shell pattern pattern with the rules
// huggingface_hub uses for allow and ignore patterns (Python's fnmatchcase): '*' matches any
// run of characters including '/', '?' any one character, "[abc]", "[a-z]" and "[!abc]" a
// character class; matching is case-sensitive. A pattern ending in '/' matches everything
// under that folder. A malformed pattern (an unclosed '[') is an error.
func Match(pattern, name string) (bool, error) {
	if strings.HasSuffix(pattern, "/") {
		pattern += "*"
	}
	if err := checkPattern(pattern); err != nil {
		return false, err
	}
	return match(pattern, name), nil
}

// checkPattern reports an unclosed character class.
func checkPattern(p string) error {
	for i := 0; i < len(p); i++ {
		if p[i] != '[' {
			continue
		}
		end := classEnd(p, i)
		if end < 0 {
			return fmt.Errorf("hub: pattern %q: unclosed '[' at byte %d", p, i)
		}
		i = end
	}
	return nil
}

// classEnd returns the index of the ']' closing the class that opens at p[i], or -1.
// As in fnmatch, a ']' right after "[" or "[!" is a literal member.
func classEnd(p string, i int) int {
	j := i + 1
	if j < len(p) && p[j] == '!' {
		j++
	}
	if j < len(p) && p[j] == ']' {
		j++
	}
	for ; j < len(p); j++ {
		if p[j] == ']' {
			return j
		}
	}
	return -1
}

// match runs the pattern over name with backtracking on the last '*' only, which is enough
// since '*' matches every character.
func match(p, s string) bool {
	var starP, starS = -1, 0
	pi, si := 0, 0
	for si < len(s) {
		if pi < len(p) {
			switch p[pi] {
			case '*':
				starP, starS = pi, si
				pi++
				continue
			case '?':
				_, n := utf8.DecodeRuneInString(s[si:])
				pi++
				si += n
				continue
			case '[':
				end := classEnd(p, pi)
				r, n := utf8.DecodeRuneInString(s[si:])
				if inClass(p[pi+1:end], r) {
					pi = end + 1
					si += n
					continue
				}
			default:
				if p[pi] == s[si] {
					pi++
					si++
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		// Let the last '*' swallow one more character and try again.
		_, n := utf8.DecodeRuneInString(s[starS:])
		starS += n
		pi, si = starP+1, starS
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// inClass reports whether r is in the class body c (the text between '[' and ']').
func inClass(c string, r rune) bool {
	neg := false
	if strings.HasPrefix(c, "!") {
		neg, c = true, c[1:]
	}
	found := false
	for len(c) > 0 {
		lo, n := utf8.DecodeRuneInString(c)
		c = c[n:]
		hi := lo
		if len(c) >= 2 && c[0] == '-' {
			h, m := utf8.DecodeRuneInString(c[1:])
			hi = h
			c = c[1+m:]
		}
		if lo <= r && r <= hi {
			found = true
		}
	}
	return found != neg
}

// Filter returns the names that match at least one of include (all names when include is
// empty) and none of exclude, in their original order.
func Filter(names, include, exclude []string) ([]string, error) {
	for _, p := range append(append([]string(nil), include...), exclude...) {
		if _, err := Match(p, ""); err != nil {
			return nil, err
		}
	}
	var out []string
	for _, n := range names {
		if len(include) > 0 && !matchAny(include, n) {
			continue
		}
		if matchAny(exclude, n) {
			continue
		}
		out = append(out, n)
	}
	return out, nil
}

func matchAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if ok, _ := Match(p, name); ok {
			return true
		}
	}
	return false
}

// defaultModelExcludes are skipped when a model repository has safetensors weights and the
// caller gave no include pattern: the same weights in other formats (PyTorch pickles and
// their shard index, TensorFlow, Flax, ONNX) would only double the download.
var defaultModelExcludes = []string{
	"*.bin", "*.bin.index.json", "*.pt", "*.pth", "*.ckpt",
	"*.h5", "*.msgpack", "*.msgpack.index.json", "*.ot", "*.onnx", "*.onnx_data",
}

// DefaultExcludes returns the patterns a model download skips by default, given the files
// in the repository: the non-safetensors weight formats when safetensors weights exist, or
// nothing.
func DefaultExcludes(files []string) []string {
	for _, f := range files {
		if strings.HasSuffix(f, ".safetensors") {
			return append([]string(nil), defaultModelExcludes...)
		}
	}
	return nil
}
