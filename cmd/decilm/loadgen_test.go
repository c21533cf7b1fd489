package main

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestLoadgenColumnsAndErrors: tok/s/stream never exceeds the aggregate, and a refused
// request shows the server's own message (it printed "status 401, <nil>").
func TestLoadgenColumnsAndErrors(t *testing.T) {
	base, _, _, _ := startServe(t, "--parallel", "4", "--api-key", "k3y")
	var out, errOut bytes.Buffer
	code := runMain(context.Background(), &env{stdout: &out, stderr: &errOut},
		[]string{"loadgen", "--url", base, "--clients", "1", "--requests", "1", "--max-tokens", "4"})
	if code == 0 || !strings.Contains(errOut.String(), "incorrect or missing API key") {
		t.Errorf("without the key: exit %d, stderr %q; want the server's message", code, errOut.String())
	}
	out.Reset()
	errOut.Reset()
	code = runMain(context.Background(), &env{stdout: &out, stderr: &errOut},
		[]string{"loadgen", "--url", base, "--api-key", "k3y", "--clients", "1,4", "--requests", "2", "--max-tokens", "16"})
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, out.String(), errOut.String())
	}
	rows := regexp.MustCompile(`(?m)^\s+(\d+)\s+\d+\s+\d+\s+[\d.]+\s+([\d.]+)\s+[\d.]+\s+[\d.]+\s+([\d.]+)$`).FindAllStringSubmatch(out.String(), -1)
	if len(rows) != 2 {
		t.Fatalf("output:\n%s", out.String())
	}
	for _, r := range rows {
		n, _ := strconv.ParseFloat(r[1], 64)
		agg, _ := strconv.ParseFloat(r[2], 64)
		per, _ := strconv.ParseFloat(r[3], 64)
		if per > agg || per < agg/n-0.2 || per > agg/n+0.2 {
			t.Errorf("%s clients: aggregate %v tok/s, per stream %v; want aggregate ÷ clients", r[1], agg, per)
		}
	}
}
