//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package hub

import "context"

// lockFile is a no-op where flock is not available: the download is still written to its
// own .incomplete file and renamed atomically, so at worst two processes fetch it twice.
func lockFile(ctx context.Context, path string) (func(), error) {
	return func() {}, ctx.Err()
}
