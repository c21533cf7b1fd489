package hub

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/term"
)

// progress is the one display shared by all downloads of a Download call: bytes done of the
// total, the rate over the last seconds, the time left and the files finished. On a terminal it
// redraws one line; elsewhere it prints a line per interval.
type progress struct {
	w        io.Writer // nil: count, show nothing
	tty      bool
	interval time.Duration

	total, done      atomic.Int64
	skipped          atomic.Int64 // part of done found on disk: not in the rate
	files, filesDone atomic.Int64

	mu      sync.Mutex // guards the writer and what follows
	samples []sample   // recent (time, done) pairs for the rate
	last    string
	quit    chan struct{}
	exited  chan struct{}
	stopped bool
}

type sample struct {
	t    time.Time
	done int64
}

// rateWindow is how far back the rate looks.
const rateWindow = 5 * time.Second

func newProgress(w io.Writer, interval time.Duration, files int) *progress {
	p := &progress{w: w}
	p.files.Store(int64(files))
	if w == nil {
		return p
	}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty = true
	}
	switch {
	case interval > 0:
		p.interval = interval
	case p.tty:
		p.interval = 500 * time.Millisecond
	default:
		p.interval = 10 * time.Second // a log file needs no animation
	}
	p.samples = []sample{{time.Now(), 0}}
	p.quit = make(chan struct{})
	p.exited = make(chan struct{})
	go p.loop()
	return p
}

func (p *progress) loop() {
	defer close(p.exited)
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		select {
		case <-p.quit:
			return
		case <-t.C:
			p.mu.Lock()
			p.draw(false)
			p.mu.Unlock()
		}
	}
}

func (p *progress) add(n int64)      { p.done.Add(n) }
func (p *progress) skip(n int64)     { p.done.Add(n); p.skipped.Add(n) }
func (p *progress) addTotal(n int64) { p.total.Add(n) }
func (p *progress) addFiles(n int64) { p.files.Add(n) }
func (p *progress) fileDone()        { p.filesDone.Add(1) }

// notef prints a message without garbling the display.
func (p *progress) notef(format string, args ...any) {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.last != "" {
		io.WriteString(p.w, "\r\x1b[K")
	}
	fmt.Fprintf(p.w, format, args...)
	if p.tty && p.last != "" && !p.stopped {
		io.WriteString(p.w, p.last)
	}
}

// stop draws the final state and ends the display.
func (p *progress) stop() {
	if p.w == nil {
		return
	}
	close(p.quit)
	<-p.exited
	p.mu.Lock()
	defer p.mu.Unlock()
	p.draw(true)
	p.stopped = true
	if p.tty {
		io.WriteString(p.w, "\n")
	}
}

// draw writes the current line; the caller holds mu.
func (p *progress) draw(final bool) {
	now := time.Now()
	done, total := p.done.Load(), p.total.Load()
	p.samples = append(p.samples, sample{now, done - p.skipped.Load()})
	for len(p.samples) > 2 && now.Sub(p.samples[1].t) >= rateWindow {
		p.samples = p.samples[1:]
	}
	first := p.samples[0]
	var rate float64
	if dt := now.Sub(first.t).Seconds(); dt > 0 {
		rate = float64(p.samples[len(p.samples)-1].done-first.done) / dt
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s / %s", formatBytes(done), formatBytes(total))
	if total > 0 {
		fmt.Fprintf(&b, " (%.1f%%)", 100*float64(done)/float64(total))
	}
	fmt.Fprintf(&b, "  %s/s", formatBytes(int64(rate)))
	if !final && rate > 0 && total > done {
		eta := time.Duration(float64(total-done) / rate * float64(time.Second))
		fmt.Fprintf(&b, "  ETA %s", eta.Round(time.Second))
	}
	fmt.Fprintf(&b, "  %d/%d files", p.filesDone.Load(), p.files.Load())
	line := b.String()
	if p.tty {
		io.WriteString(p.w, "\r\x1b[K"+line)
	} else if line != p.last || final {
		io.WriteString(p.w, line+"\n")
	}
	p.last = line
}

// formatBytes writes n with a decimal unit, as download tools do: 11.4 GB.
func formatBytes(n int64) string {
	const unit = 1000
	if n < unit && n > -unit {
		return fmt.Sprintf("%d B", n)
	}
	f := float64(n)
	for _, u := range []string{"kB", "MB", "GB", "TB"} {
		f /= unit
		if f < unit && f > -unit {
			return fmt.Sprintf("%.1f %s", f, u)
		}
	}
	return fmt.Sprintf("%.1f PB", f/unit)
}
