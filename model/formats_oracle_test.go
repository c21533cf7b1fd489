//go:build oracle

package model_test

import (
	"testing"

	"github.com/decilm/decilm/internal/testutil"
)

// TestFormatsAgreeLlama2C is TestFormatsAgree from the shared fixtures' stories260K.bin.
func TestFormatsAgreeLlama2C(t *testing.T) {
	testFormatsAgree(t, []formatCase{
		{"stories260K-llama2c", testutil.Fixture(t, "stories260K", "stories260K.bin"), []int{1, 403, 407, 261, 378}},
	})
}
