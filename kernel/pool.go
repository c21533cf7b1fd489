package kernel

import (
	"runtime"
	"sync"
)

// Pool splits loops over a fixed number of threads. The zero value and a nil *Pool run
// everything on the calling goroutine.
type Pool struct {
	threads int
}

// NewPool returns a pool of n threads; n < 1 means DefaultThreads().
func NewPool(n int) *Pool {
	if n < 1 {
		n = DefaultThreads()
	}
	return &Pool{threads: n}
}

// DefaultThreads is the number of CPUs this process may use.
func DefaultThreads() int { return runtime.GOMAXPROCS(0) }

// Threads reports the pool's thread count.
func (p *Pool) Threads() int {
	if p == nil || p.threads < 1 {
		return 1
	}
	return p.threads
}

// Run calls f over disjoint ranges [lo, hi) that together cover [0, n), in parallel on the
// pool's threads, and returns when all calls have returned.
func (p *Pool) Run(n int, f func(lo, hi int)) {
	t := p.Threads()
	if t > n {
		t = n
	}
	if t <= 1 {
		if n > 0 {
			f(0, n)
		}
		return
	}
	var wg sync.WaitGroup
	for i := 0; i < t; i++ {
		lo, hi := i*n/t, (i+1)*n/t
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(lo, hi)
		}()
	}
	wg.Wait()
}
