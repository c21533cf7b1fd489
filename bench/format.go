package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// WriteJSON writes the records as a JSON array, as llama-bench -o json does.
func WriteJSON(w io.Writer, recs []Record) error {
	if recs == nil {
		recs = []Record{}
	}
	b, err := json.MarshalIndent(recs, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// WriteMarkdown writes the records as llama-bench's markdown table: model, size, params,
// backend, threads, test, t/s (mean ± standard deviation), and where any record names its
// kernel path, a kernel column after threads.
func WriteMarkdown(w io.Writer, recs []Record) error {
	head := []string{"model", "size", "params", "backend", "threads", "test", "t/s"}
	right := []bool{false, true, true, false, true, true, true}
	width := []int{30, 10, 10, 10, 7, 13, 20}
	paths := false
	for _, r := range recs {
		paths = paths || r.KernelPath != ""
	}
	if paths {
		head = []string{"model", "size", "params", "backend", "threads", "kernel", "test", "t/s"}
		right = []bool{false, true, true, false, true, false, true, true}
		width = []int{30, 10, 10, 10, 7, 6, 13, 20}
	}
	rows := make([][]string, len(recs))
	for i, r := range recs {
		rows[i] = []string{r.ModelType, fmtSize(r.ModelSize), fmtParams(r.ModelParams), r.Backends,
			strconv.Itoa(r.NThreads), r.Test, fmt.Sprintf("%.2f ± %.2f", r.AvgTs, r.StddevTs)}
		if paths {
			rows[i] = append(rows[i][:5], append([]string{r.KernelPath}, rows[i][5:]...)...)
		}
		for j, c := range rows[i] {
			width[j] = max(width[j], utf8.RuneCountInString(c))
		}
	}
	var sb strings.Builder
	line := func(cells []string) {
		for j, c := range cells {
			p := strings.Repeat(" ", width[j]-utf8.RuneCountInString(c))
			if right[j] {
				c = p + c
			} else {
				c += p
			}
			sb.WriteString("| " + c + " ")
		}
		sb.WriteString("|\n")
	}
	line(head)
	for j := range head {
		d := strings.Repeat("-", width[j])
		if right[j] {
			d = d[:len(d)-1] + ":"
		}
		sb.WriteString("| " + d + " ")
	}
	sb.WriteString("|\n")
	for _, r := range rows {
		line(r)
	}
	_, err := io.WriteString(w, sb.String())
	return err
}

// fmtSize prints a byte count in GiB (MiB below one GiB), as llama-bench does.
func fmtSize(n int64) string {
	if n >= 1<<30 {
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	}
	return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
}

// fmtParams prints a parameter count with a B, M or K suffix, as llama-bench does.
func fmtParams(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2f B", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.2f M", float64(n)/1e6)
	default:
		return fmt.Sprintf("%.2f K", float64(n)/1e3)
	}
}

// ParseCounts parses a comma-separated list of positive integers such as "1,4,16" (the -b
// flag). The empty string gives none.
func ParseCounts(s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("bench: %q in %q is not a positive integer", f, s)
		}
		if n > 1<<16 {
			return nil, fmt.Errorf("bench: %d sequences is more than %d", n, 1<<16)
		}
		out = append(out, n)
	}
	return out, nil
}
