package torch

import (
	"archive/zip"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/decilm/decilm/tensor"
)

// zipAlignment is the alignment of every entry's data, as torch.save writes it (so that
// torch.load(mmap=True) can map the storages).
const zipAlignment = 64

// Write writes tensors as a state dict in torch.save's zip format: archive/data.pkl (a
// protocol 2 pickle of an OrderedDict from name to tensor), archive/byteorder ("little"),
// archive/data/0, 1, ... (one STORED, 64-byte aligned entry per tensor) and
// archive/version ("3"). torch.load reads the result. Tensors must be F32, F16, BF16 or
// I32, pass Validate and have unique names.
func Write(w io.Writer, tensors []*tensor.Tensor) error {
	names := make(map[string]bool, len(tensors))
	p := &pickler{}
	p.proto(2)
	p.global("collections", "OrderedDict")
	p.op(opEmptyTuple)
	p.op(opReduce)
	p.op(opMark)
	for i, t := range tensors {
		if err := t.Validate(); err != nil {
			return fmt.Errorf("torch: write: %w", err)
		}
		if names[t.Name] {
			return fmt.Errorf("torch: write: tensor %q appears twice", t.Name)
		}
		names[t.Name] = true
		var st string
		switch t.DType {
		case tensor.F32:
			st = "FloatStorage"
		case tensor.F16:
			st = "HalfStorage"
		case tensor.BF16:
			st = "BFloat16Storage"
		case tensor.I32:
			st = "IntStorage"
		default:
			return fmt.Errorf("torch: write: tensor %q: %s has no PyTorch storage type", t.Name, t.DType)
		}
		n := t.Elements()
		p.str(t.Name)
		p.global("torch._utils", "_rebuild_tensor_v2")
		p.op(opMark)
		{
			p.op(opMark)
			p.str("storage")
			p.global("torch", st)
			p.str(fmt.Sprint(i))
			p.str("cpu")
			p.int(int64(n))
			p.op(opTuple)
			p.op(opBinPersID)
		}
		p.int(0) // storage offset
		p.op(opMark)
		for _, s := range t.Shape {
			p.int(int64(s))
		}
		p.op(opTuple)
		p.op(opMark)
		stride := int64(1)
		strides := make([]int64, len(t.Shape))
		for j := len(t.Shape) - 1; j >= 0; j-- {
			strides[j] = stride
			stride *= int64(t.Shape[j])
		}
		for _, s := range strides {
			p.int(s)
		}
		p.op(opTuple)
		p.op(opNewFalse) // requires_grad
		p.global("collections", "OrderedDict")
		p.op(opEmptyTuple)
		p.op(opReduce) // backward_hooks
		p.op(opTuple)
		p.op(opReduce)
	}
	p.op(opSetItems)
	p.op(opStop)

	cw := &countWriter{w: w}
	zw := zip.NewWriter(cw)
	add := func(name string, data []byte) error {
		if err := zw.Flush(); err != nil {
			return err
		}
		// Pad the local header's extra field so that the data starts at a multiple of 64:
		// the header is 30 bytes, then the name, then the extra field (4 bytes + padding).
		at := cw.n + 30 + int64(len(name)) + 4
		pad := (zipAlignment - at%zipAlignment) % zipAlignment
		extra := make([]byte, 4+pad)
		binary.LittleEndian.PutUint16(extra, 0x4246) // "FB", the id torch.save uses
		binary.LittleEndian.PutUint16(extra[2:], uint16(pad))
		hw, err := zw.CreateRaw(&zip.FileHeader{
			Name:               name,
			Method:             zip.Store,
			CRC32:              crc32.ChecksumIEEE(data),
			CompressedSize64:   uint64(len(data)),
			UncompressedSize64: uint64(len(data)),
			Extra:              extra,
		})
		if err != nil {
			return err
		}
		_, err = hw.Write(data)
		return err
	}
	if err := add("archive/data.pkl", p.b); err != nil {
		return fmt.Errorf("torch: write: %w", err)
	}
	if err := add("archive/byteorder", []byte("little")); err != nil {
		return fmt.Errorf("torch: write: %w", err)
	}
	for i, t := range tensors {
		if err := add(fmt.Sprintf("archive/data/%d", i), t.Data); err != nil {
			return fmt.Errorf("torch: write: tensor %q: %w", t.Name, err)
		}
	}
	if err := add("archive/version", []byte("3\n")); err != nil {
		return fmt.Errorf("torch: write: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("torch: write: %w", err)
	}
	return nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// pickler emits the protocol 2 opcodes Write needs.
type pickler struct{ b []byte }

func (p *pickler) op(o byte) { p.b = append(p.b, o) }

func (p *pickler) proto(v byte) { p.b = append(p.b, opProto, v) }

func (p *pickler) global(module, name string) {
	p.b = append(p.b, opGlobal)
	p.b = append(p.b, module+"\n"+name+"\n"...)
}

func (p *pickler) str(s string) {
	p.b = append(p.b, opBinUnicode)
	p.b = binary.LittleEndian.AppendUint32(p.b, uint32(len(s)))
	p.b = append(p.b, s...)
}

func (p *pickler) int(v int64) {
	switch {
	case v >= 0 && v < 1<<8:
		p.b = append(p.b, opBinInt1, byte(v))
	case v >= 0 && v < 1<<16:
		p.b = append(p.b, opBinInt2)
		p.b = binary.LittleEndian.AppendUint16(p.b, uint16(v))
	case v >= -1<<31 && v < 1<<31:
		p.b = append(p.b, opBinInt)
		p.b = binary.LittleEndian.AppendUint32(p.b, uint32(int32(v)))
	default:
		p.b = append(p.b, opLong1, 8)
		p.b = binary.LittleEndian.AppendUint64(p.b, uint64(v))
	}
}
