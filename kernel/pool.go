package kernel

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Pool splits loops over a fixed number of threads. NewPool starts threads-1 worker
// goroutines that live as long as the pool (the calling goroutine is the last thread);
// they spin briefly after each job so that the next one starts without a wake-up delay,
// then sleep. The zero value and a nil *Pool run everything on the calling goroutine.
//
// A Pool runs one job at a time: a Run that finds the pool busy (another goroutine's job,
// or a Run nested inside a job) runs its loop on the calling goroutine instead of
// waiting.
type Pool struct {
	threads int
	w       *workers
}

// spinFor is how long an idle worker polls for the next job before it sleeps.
const spinFor = 50 * time.Microsecond

// workers is the shared state of a pool's worker goroutines. It is separate from Pool so
// that a cleanup attached to an unreachable Pool can stop the goroutines.
type workers struct {
	mu   sync.Mutex          // held by the goroutine whose job is running
	cur  atomic.Pointer[job] // the latest job
	gen  atomic.Uint64       // incremented for each job
	quit atomic.Bool
	spin time.Duration // how long an idle worker polls before it sleeps

	sleeping []atomic.Bool
	wake     []chan struct{}
}

// job is one Run: chunks of chunk elements taken in order by whichever thread is free.
type job struct {
	f        func(lo, hi int)
	n, chunk int
	chunks   int64
	next     atomic.Int64  // next chunk to take
	finished atomic.Int64  // chunks done
	done     chan struct{} // closed when finished reaches chunks
}

// NewPool returns a pool of n threads; n < 1 means DefaultThreads(). Its worker
// goroutines stop when Close is called or when the pool becomes unreachable.
func NewPool(n int) *Pool {
	if n < 1 {
		n = DefaultThreads()
	}
	p := &Pool{threads: n}
	if n > 1 {
		w := &workers{
			spin:     spinFor,
			sleeping: make([]atomic.Bool, n-1),
			wake:     make([]chan struct{}, n-1),
		}
		if n > runtime.GOMAXPROCS(0) {
			// Polling workers would keep the submitting goroutine off the CPUs when
			// there are more threads than GOMAXPROCS: sleep at once instead.
			w.spin = 0
		}
		for i := range w.wake {
			w.wake[i] = make(chan struct{}, 1)
			go w.loop(i)
		}
		p.w = w
		runtime.AddCleanup(p, func(w *workers) { w.stop() }, w)
	}
	return p
}

// Close stops the pool's worker goroutines; later calls run on the calling goroutine
// only. It must not be called while a Run is in progress.
func (p *Pool) Close() {
	if p == nil || p.w == nil {
		return
	}
	p.w.stop()
	p.w = nil
	p.threads = 1
}

func (w *workers) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.quit.Swap(true) {
		return
	}
	w.signal()
}

// signal starts a new generation and wakes the sleeping workers.
func (w *workers) signal() {
	w.gen.Add(1)
	for i := range w.wake {
		if w.sleeping[i].Swap(false) {
			w.wake[i] <- struct{}{}
		}
	}
}

// loop is worker i's goroutine.
func (w *workers) loop(i int) {
	seen := w.gen.Load()
	for {
		// Wait for a new generation: spin first, then sleep.
		start := time.Now()
		for spins := 0; w.gen.Load() == seen; spins++ {
			if spins&255 != 255 {
				continue
			}
			runtime.Gosched() // let a goroutine waiting for this P run
			if time.Since(start) > w.spin {
				w.sleeping[i].Store(true)
				if w.gen.Load() != seen && w.sleeping[i].Swap(false) {
					break // a job arrived before anyone saw us asleep
				}
				<-w.wake[i] // whoever cleared sleeping sends exactly one token
				break
			}
		}
		seen = w.gen.Load()
		if w.quit.Load() {
			return
		}
		if j := w.cur.Load(); j != nil {
			j.work()
		}
	}
}

// work takes chunks of j until none are left.
func (j *job) work() {
	for {
		c := j.next.Add(1) - 1
		if c >= j.chunks {
			return
		}
		lo := int(c) * j.chunk
		j.f(lo, min(lo+j.chunk, j.n))
		if j.finished.Add(1) == j.chunks {
			close(j.done)
		}
	}
}

// DefaultThreads is the number of CPUs this process may use: GOMAXPROCS, lowered to the
// size of the CPU affinity mask and to the cgroup CPU quota (rounded up) where the
// system reports them.
func DefaultThreads() int {
	n := runtime.GOMAXPROCS(0)
	if a := affinityCPUs(); a > 0 && a < n {
		n = a
	}
	if q := cgroupCPUs(); q > 0 && q < n {
		n = q
	}
	return max(n, 1)
}

// Threads reports the pool's thread count.
func (p *Pool) Threads() int {
	if p == nil || p.threads < 1 {
		return 1
	}
	return p.threads
}

// Run calls f over disjoint ranges [lo, hi) that together cover [0, n), in parallel on the
// pool's threads, and returns when all calls have returned. The ranges may be more
// numerous than the threads (idle threads take the next range), so f should not assume
// one call per thread.
func (p *Pool) Run(n int, f func(lo, hi int)) {
	p.runGrain(n, 1, f)
}

// runGrain is Run with every range but the last a multiple of grain elements long.
func (p *Pool) runGrain(n, grain int, f func(lo, hi int)) {
	p.runChunks(n, grain, 8, f)
}

// runChunks is runGrain with perThread chunks for each thread (fewer, longer ones suit
// memory-bound loops, whose every chunk starts a new stream through memory).
func (p *Pool) runChunks(n, grain, perThread int, f func(lo, hi int)) {
	if n <= 0 {
		return
	}
	t := p.Threads()
	units := (n + grain - 1) / grain
	if t <= 1 || units <= 1 || p.w == nil {
		f(0, n)
		return
	}
	w := p.w
	if !w.mu.TryLock() {
		f(0, n) // busy (a nested or concurrent Run): do it here
		return
	}
	defer w.mu.Unlock()
	// A few chunks per thread, so that a thread slowed by another process does not
	// hold up the rest.
	nc := min(units, perThread*t)
	per := (units + nc - 1) / nc
	j := &job{f: f, n: n, chunk: per * grain, done: make(chan struct{})}
	j.chunks = int64((n + j.chunk - 1) / j.chunk)
	w.cur.Store(j)
	w.signal()
	j.work()
	// Wait for the other threads' last chunks by polling, for up to spinFor: parking on
	// the channel costs the wake-up latency of a sleeping OS thread (tens of µs) each
	// time the caller finishes first, which a matrix-vector product of a few hundred µs
	// cannot afford.
	var start time.Time
	for spins := 0; j.finished.Load() < j.chunks; spins++ {
		if spins&255 != 255 {
			continue
		}
		if start.IsZero() {
			start = time.Now()
		} else if time.Since(start) > spinFor {
			<-j.done
			break
		}
	}
	w.cur.Store(nil)
}
