//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package hub

import "context"

// lockFile is a no-op where flock is not available: two processes fetching the same blob at
// once may then interleave in its .incomplete file, which the sha256 check of LFS files
// catches before anything is moved into place.
func lockFile(ctx context.Context, path string, waiting func()) (func(), error) {
	return func() {}, ctx.Err()
}
