package checkpoint

import (
	"strings"
	"testing"
)

func TestParseIndex(t *testing.T) {
	for _, tc := range []struct {
		json   string
		shards string // comma-separated, or the error's text
		ok     bool
	}{
		{`{"metadata":{"total_size":8},"weight_map":{"a":"m-2.safetensors","b":"m-1.safetensors","c":"m-2.safetensors"}}`, "m-1.safetensors,m-2.safetensors", true},
		{`{"weight_map":{}}`, "weight_map is missing or empty", false},
		{`{"weight_map":{"a":"../m.safetensors"}}`, "invalid shard name", false},
		{`{"weight_map":{"a":"sub\\m.safetensors"}}`, "invalid shard name", false},
		{`{"weight_map":{"a":".."}}`, "invalid shard name", false},
		{`{"weight_map":{"a":""}}`, "invalid shard name", false},
		{`{"weight_map":{"a":"m\u0000.safetensors"}}`, "invalid shard name", false},
		{`{"weight_map":{"a":1}}`, "cannot unmarshal", false},
		{`[`, "unexpected end", false},
	} {
		wm, shards, err := ParseIndex("idx.json", []byte(tc.json))
		if tc.ok {
			if err != nil || strings.Join(shards, ",") != tc.shards || len(wm) != 3 {
				t.Errorf("%s: %v %v %v", tc.json, wm, shards, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.shards) || !strings.HasPrefix(err.Error(), "idx.json: ") {
			t.Errorf("%s: err = %v, want %q", tc.json, err, tc.shards)
		}
	}
}

// FuzzParseIndex: ParseIndex never panics, and what it accepts names only plain file names,
// each listed once, sorted, and every one used by the weight map.
func FuzzParseIndex(f *testing.F) {
	f.Add([]byte(`{"metadata":{"total_size":8},"weight_map":{"a":"m-2.safetensors","b":"m-1.safetensors"}}`))
	f.Add([]byte(`{"weight_map":{"a":"../x"}}`))
	f.Add([]byte(`{"weight_map":{}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		wm, shards, err := ParseIndex("idx.json", data)
		if err != nil {
			return
		}
		used := map[string]bool{}
		for _, s := range wm {
			used[s] = true
		}
		if len(used) != len(shards) {
			t.Fatalf("%d shards listed, %d used", len(shards), len(used))
		}
		for i, s := range shards {
			if !used[s] || strings.ContainsAny(s, "/\\\x00") || s == "." || s == ".." || s == "" || (i > 0 && shards[i-1] >= s) {
				t.Fatalf("bad shard list %q", shards)
			}
		}
	})
}
