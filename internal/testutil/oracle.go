//go:build oracle

package testutil

// Oracle reports whether the tests were built with the oracle tag, which CI sets to run the
// tests that read ../shared/fixtures or run reference tools.
const Oracle = true
