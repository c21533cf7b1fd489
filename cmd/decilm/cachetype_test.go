package main

import (
	"strings"
	"testing"
)

// TestCacheTypeFlag: --cache-type names the type it refuses and why; f16 and f32 give the
// same greedy text on the embedded model.
func TestCacheTypeFlag(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--cache-type", "q4_0", "-p", "x"}, `--cache-type: unknown KV cache type "q4_0" (want f16, f32, q8_0)`},
		{[]string{"run", "--cache-type", "q8_0", "-p", "x"}, "--cache-type: KV cache type q8_0 needs a head dimension that is a multiple of 32; the model's is 8"},
		{[]string{"chat", "--cache-type", "f8"}, "--cache-type: unknown KV cache type"},
		{[]string{"serve", "--port", "0", "--cache-type", "q8_0"}, "--cache-type: KV cache type q8_0 needs"},
	} {
		_, errs, code := run(t, "", tt.args...)
		if code != 2 || !strings.Contains(errs, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", tt.args, code, errs, tt.want)
		}
	}
	var outs []string
	for _, ct := range []string{"f32", "f16"} {
		out, errs, code := run(t, "", "run", "--cache-type", ct, "--temp", "0", "-n", "40", "-p", "Once upon a time")
		if code != 0 {
			t.Fatalf("--cache-type %s: exit %d: %s", ct, code, errs)
		}
		outs = append(outs, out)
	}
	if outs[0] != outs[1] {
		t.Errorf("greedy text differs:\nf32 %q\nf16 %q", outs[0], outs[1])
	}
}
