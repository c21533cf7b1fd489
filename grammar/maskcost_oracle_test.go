//go:build oracle

package grammar

import (
	"syscall"
	"testing"
	"time"

	"github.com/decilm/decilm/internal/testutil"
)

func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestMaskCost logs the CPU time of a mask of the Llama-2 vocabulary inside a JSON string:
// the first (building the state table) and the trie walk once the states are known.
func TestMaskCost(t *testing.T) {
	_, _, v := realVocab(t, testutil.Fixture(t, "llama2-tokenizer", "tokenizer.model"))
	g, _ := FromJSONSchema([]byte(oracleSchema))
	m, _ := NewMatcher(g, v)
	for _, b := range []byte(`{"name": "ab`) {
		for j := 0; j < v.Size(); j++ {
			if v.texts[j] == string([]byte{b}) {
				m.Accept(j)
				break
			}
		}
	}
	logits := make([]float32, v.Size())
	c0 := cpuNow()
	m.Mask(logits)
	c1 := cpuNow()
	t.Logf("first mask %v CPU, %d states", c1-c0, len(m.t.dstates))
	for i := 0; i < 50; i++ {
		clear(m.t.masks) // time the trie walk, not the mask cache
		m.Mask(logits)
	}
	c2 := cpuNow()
	t.Logf("steady mask %v CPU, %d states", (c2-c1)/50, len(m.t.dstates))
}
