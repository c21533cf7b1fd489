package llama2c

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
)

func TestPermuteInverse(t *testing.T) {
	const heads, hd, rb = 3, 8, 5
	b := make([]byte, heads*hd*rb)
	for i := range b {
		b[i] = byte(i)
	}
	p := PermuteRows(b, heads, hd, rb)
	if bytes.Equal(p, b) || !bytes.Equal(UnpermuteRows(p, heads, hd, rb), b) {
		t.Fatal("UnpermuteRows(PermuteRows(b)) != b")
	}
	// Row i of the first half is the adjacent-pair row 2i; row hd/2+i is 2i+1.
	for i := 0; i < hd/2; i++ {
		if p[i*rb] != b[2*i*rb] || p[(hd/2+i)*rb] != b[(2*i+1)*rb] {
			t.Fatalf("row %d permuted wrongly", i)
		}
	}
}

func TestBadHeaders(t *testing.T) {
	hdr := func(v ...int32) []byte {
		var b bytes.Buffer
		binary.Write(&b, binary.LittleEndian, v)
		return b.Bytes()
	}
	cases := []struct {
		data []byte
		want string
	}{
		{nil, "too short"},
		{hdr(64, 172, 5, 8, 4, 512, 512), "truncated"},
		{hdr(64, 172, 5, 0, 4, 512, 512), "implausible"},
		{hdr(64, 172, 5, 8, 3, 512, 512), "not a multiple"},
		{hdr(66, 172, 5, 8, 4, 512, 512), "not a multiple of 2*heads"},
	}
	for _, c := range cases {
		if _, err := Parse("x.bin", c.data); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q", c.data, err, c.want)
		}
	}
	// Trailing bytes (TestFileSize checks one byte more or less).
	b := tinyFile(tinyHeader)
	if _, err := Parse("x.bin", append(b, 0, 0, 0, 0)); err == nil || !strings.Contains(err.Error(), "unexpected bytes") {
		t.Errorf("trailing bytes: %v", err)
	}
}
