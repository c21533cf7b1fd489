package main

import (
	"fmt"
	"io"
	"time"
)

// progress draws a one-line progress bar with rate and ETA on a terminal-like writer,
// redrawn at most a few times a second.
type progress struct {
	w     io.Writer
	label string
	unit  string // "B" formats sizes; anything else counts items
	start time.Time
	last  time.Time
	done  bool
}

func newProgress(w io.Writer, label, unit string) *progress {
	return &progress{w: w, label: label, unit: unit, start: time.Now()}
}

func (p *progress) update(done, total int64) {
	now := time.Now()
	if now.Sub(p.last) < 200*time.Millisecond && done < total {
		return
	}
	p.last = now
	el := now.Sub(p.start).Seconds()
	rate := float64(done) / max(el, 1e-9)
	eta := "?"
	if rate > 0 && total > 0 {
		eta = (time.Duration(float64(total-done)/rate) * time.Second).Round(time.Second).String()
	}
	const width = 30
	fill := 0
	if total > 0 {
		fill = int(int64(width) * done / total)
	}
	bar := ""
	for i := 0; i < width; i++ {
		if i < fill {
			bar += "="
		} else {
			bar += " "
		}
	}
	pct := 0.0
	if total > 0 {
		pct = 100 * float64(done) / float64(total)
	}
	fmt.Fprintf(p.w, "\r%s [%s] %5.1f%% %s/%s %s/s ETA %s   ", p.label, bar, pct, p.format(float64(done)), p.format(float64(total)), p.format(rate), eta)
}

func (p *progress) format(v float64) string {
	if p.unit != "B" {
		return fmt.Sprintf("%.0f", v)
	}
	switch {
	case v >= 1<<30:
		return fmt.Sprintf("%.2fGB", v/(1<<30))
	case v >= 1<<20:
		return fmt.Sprintf("%.1fMB", v/(1<<20))
	case v >= 1<<10:
		return fmt.Sprintf("%.1fkB", v/(1<<10))
	}
	return fmt.Sprintf("%.0fB", v)
}

func (p *progress) finish() {
	if p.done {
		return
	}
	p.done = true
	fmt.Fprintf(p.w, "\r%s done in %s%40s\n", p.label, time.Since(p.start).Round(time.Millisecond), "")
}
