package torch

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"strings"
)

// The unpickler below understands just what torch.save writes for a state dict: dicts,
// tuples, lists, strings, numbers, and a closed set of globals. It never imports or calls
// anything: a GLOBAL outside that set is an error, so a hostile pickle cannot run code.

// Pickle opcodes (see Python's Lib/pickletools.py).
const (
	opMark           = '('
	opStop           = '.'
	opBinInt         = 'J'
	opBinInt1        = 'K'
	opBinInt2        = 'M'
	opNone           = 'N'
	opBinPersID      = 'Q'
	opReduce         = 'R'
	opBinString      = 'T'
	opShortBinString = 'U'
	opBinUnicode     = 'X'
	opAppend         = 'a'
	opBuild          = 'b'
	opGlobal         = 'c'
	opAppends        = 'e'
	opBinGet         = 'h'
	opLongBinGet     = 'j'
	opEmptyList      = ']'
	opBinPut         = 'q'
	opLongBinPut     = 'r'
	opSetItem        = 's'
	opTuple          = 't'
	opSetItems       = 'u'
	opEmptyDict      = '}'
	opEmptyTuple     = ')'
	opBinFloat       = 'G'
	opProto          = 0x80
	opTuple1         = 0x85
	opTuple2         = 0x86
	opTuple3         = 0x87
	opNewTrue        = 0x88
	opNewFalse       = 0x89
	opLong1          = 0x8a
	opShortBinUni    = 0x8c
	opBinUnicode8    = 0x8d
	opStackGlobal    = 0x93
	opMemoize        = 0x94
	opFrame          = 0x95
)

// Values on the unpickler's stack. Strings, int64, float64, bool and nil stand for
// themselves.
type (
	pyTuple []any
	pyList  struct{ items []any }
	pyDict  struct {
		keys  []any
		vals  []any
		index map[any]int
	}
	// pyGlobal is an allowed global: a callable or a storage type.
	pyGlobal struct{ module, name string }
	// storageRef is a persistent id: a storage saved as archive/data/<key>.
	storageRef struct {
		typ   string // "FloatStorage", "HalfStorage", ...
		key   string
		numel int64
	}
	// tensorRef is the result of torch._utils._rebuild_tensor_v2.
	tensorRef struct {
		storage *storageRef
		offset  int64
		shape   []int
		err     string // set when the strides are not contiguous
	}
)

func newDict() *pyDict { return &pyDict{index: map[any]int{}} }

func (d *pyDict) set(k, v any) error {
	switch k.(type) {
	case string, int64, bool, float64, nil:
	default:
		return fmt.Errorf("dict key of type %s is not supported", pyType(k))
	}
	if i, ok := d.index[k]; ok {
		d.vals[i] = v
		return nil
	}
	d.index[k] = len(d.keys)
	d.keys = append(d.keys, k)
	d.vals = append(d.vals, v)
	return nil
}

// storageTypes lists the storage classes a state dict may name, with their element sizes.
var storageTypes = map[string]int{
	"FloatStorage": 4, "HalfStorage": 2, "BFloat16Storage": 2, "DoubleStorage": 8,
	"LongStorage": 8, "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1,
	"ByteStorage": 1, "BoolStorage": 1,
}

// allowedGlobal reports whether module.name may be referenced.
func allowedGlobal(module, name string) bool {
	switch module + "." + name {
	case "collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter":
		return true
	}
	if module == "torch" {
		_, ok := storageTypes[name]
		return ok
	}
	return false
}

// pyType names a stack value's type for error messages.
func pyType(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case string:
		return "str"
	case int64:
		return "int"
	case float64:
		return "float"
	case bool:
		return "bool"
	case pyTuple:
		return "tuple"
	case *pyList:
		return "list"
	case *pyDict:
		return "dict"
	case *pyGlobal:
		return v.module + "." + v.name
	case *storageRef:
		return "storage"
	case *tensorRef:
		return "tensor"
	}
	return fmt.Sprintf("%T", v)
}

type unpickler struct {
	data  []byte
	pos   int
	stack []any
	marks []int
	memo  map[uint32]any
	// objects counts the values pushed and memoized, which bounds what the pickle can make
	// the unpickler allocate (see maxObjects).
	objects int
}

// maxObjects bounds the values one pickle may push or memoize: a state dict takes a few
// dozen per tensor, so this allows some 8,000 tensors a file (the largest open models have
// under 2,000) while keeping what a hostile pickle can cost to about 25 MB.
const maxObjects = 1 << 18

// unpickle decodes a pickle and returns the object it builds.
func unpickle(data []byte) (any, error) {
	u := &unpickler{data: data, memo: map[uint32]any{}}
	v, err := u.run()
	if err != nil {
		return nil, fmt.Errorf("pickle: %w", err)
	}
	return v, nil
}

func (u *unpickler) read(n int) ([]byte, error) {
	if n < 0 || n > len(u.data)-u.pos {
		return nil, fmt.Errorf("truncated at byte %d: need %d bytes", u.pos, n)
	}
	b := u.data[u.pos : u.pos+n]
	u.pos += n
	return b, nil
}

func (u *unpickler) readLine() (string, error) {
	i := strings.IndexByte(string(u.data[u.pos:min(len(u.data), u.pos+256)]), '\n')
	if i < 0 {
		return "", fmt.Errorf("GLOBAL at byte %d: no newline within 256 bytes", u.pos)
	}
	s := string(u.data[u.pos : u.pos+i])
	u.pos += i + 1
	return s, nil
}

func (u *unpickler) push(v any) {
	u.objects++
	u.stack = append(u.stack, v)
}

// base is the stack index above the innermost mark: items below it cannot be popped.
func (u *unpickler) base() int {
	if len(u.marks) == 0 {
		return 0
	}
	return u.marks[len(u.marks)-1]
}

func (u *unpickler) pop() (any, error) {
	if len(u.stack) <= u.base() {
		return nil, fmt.Errorf("stack underflow at byte %d", u.pos-1)
	}
	v := u.stack[len(u.stack)-1]
	u.stack = u.stack[:len(u.stack)-1]
	return v, nil
}

func (u *unpickler) top() (any, error) {
	if len(u.stack) <= u.base() {
		return nil, fmt.Errorf("stack underflow at byte %d", u.pos-1)
	}
	return u.stack[len(u.stack)-1], nil
}

// popMark pops the items above the innermost mark, and the mark.
func (u *unpickler) popMark() ([]any, error) {
	if len(u.marks) == 0 {
		return nil, fmt.Errorf("no MARK for the opcode at byte %d", u.pos-1)
	}
	b := u.marks[len(u.marks)-1]
	u.marks = u.marks[:len(u.marks)-1]
	items := append([]any(nil), u.stack[b:]...)
	u.stack = u.stack[:b]
	return items, nil
}

func (u *unpickler) memoPut(i uint32) error {
	v, err := u.top()
	if err != nil {
		return err
	}
	if _, ok := u.memo[i]; !ok {
		u.objects++
	}
	u.memo[i] = v
	return nil
}

func (u *unpickler) memoGet(i uint32) error {
	v, ok := u.memo[i]
	if !ok {
		return fmt.Errorf("memo key %d at byte %d was never stored", i, u.pos)
	}
	u.push(v)
	return nil
}

func (u *unpickler) run() (any, error) {
	for {
		if u.pos >= len(u.data) {
			return nil, fmt.Errorf("truncated at byte %d: no STOP opcode", u.pos)
		}
		at := u.pos
		op := u.data[u.pos]
		u.pos++
		var err error
		switch op {
		case opProto:
			var b []byte
			if b, err = u.read(1); err == nil && (b[0] < 2 || b[0] > 5) {
				err = fmt.Errorf("unsupported pickle protocol %d", b[0])
			}
		case opFrame:
			_, err = u.read(8)
		case opStop:
			return u.pop()
		case opMark:
			u.marks = append(u.marks, len(u.stack))
		case opNone:
			u.push(nil)
		case opNewTrue:
			u.push(true)
		case opNewFalse:
			u.push(false)
		case opEmptyDict:
			u.push(newDict())
		case opEmptyList:
			u.push(&pyList{})
		case opEmptyTuple:
			u.push(pyTuple{})
		case opBinInt:
			var b []byte
			if b, err = u.read(4); err == nil {
				u.push(int64(int32(binary.LittleEndian.Uint32(b))))
			}
		case opBinInt1:
			var b []byte
			if b, err = u.read(1); err == nil {
				u.push(int64(b[0]))
			}
		case opBinInt2:
			var b []byte
			if b, err = u.read(2); err == nil {
				u.push(int64(binary.LittleEndian.Uint16(b)))
			}
		case opLong1:
			err = u.long1()
		case opBinFloat:
			var b []byte
			if b, err = u.read(8); err == nil {
				u.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
			}
		case opBinUnicode, opBinString:
			var b []byte
			if b, err = u.read(4); err == nil {
				n := binary.LittleEndian.Uint32(b)
				if op == opBinString && int32(n) < 0 {
					err = fmt.Errorf("negative string length at byte %d", at)
				} else if b, err = u.read(int(n)); err == nil {
					u.push(string(b))
				}
			}
		case opShortBinUni, opShortBinString:
			var b []byte
			if b, err = u.read(1); err == nil {
				if b, err = u.read(int(b[0])); err == nil {
					u.push(string(b))
				}
			}
		case opBinUnicode8:
			var b []byte
			if b, err = u.read(8); err == nil {
				n := binary.LittleEndian.Uint64(b)
				if n > uint64(len(u.data)-u.pos) {
					err = fmt.Errorf("string at byte %d of length %d runs past the end", at, n)
				} else if b, err = u.read(int(n)); err == nil {
					u.push(string(b))
				}
			}
		case opBinPut:
			var b []byte
			if b, err = u.read(1); err == nil {
				err = u.memoPut(uint32(b[0]))
			}
		case opLongBinPut:
			var b []byte
			if b, err = u.read(4); err == nil {
				err = u.memoPut(binary.LittleEndian.Uint32(b))
			}
		case opMemoize:
			err = u.memoPut(uint32(len(u.memo)))
		case opBinGet:
			var b []byte
			if b, err = u.read(1); err == nil {
				err = u.memoGet(uint32(b[0]))
			}
		case opLongBinGet:
			var b []byte
			if b, err = u.read(4); err == nil {
				err = u.memoGet(binary.LittleEndian.Uint32(b))
			}
		case opGlobal:
			var mod, name string
			if mod, err = u.readLine(); err == nil {
				if name, err = u.readLine(); err == nil {
					err = u.global(mod, name)
				}
			}
		case opStackGlobal:
			err = u.stackGlobal()
		case opTuple:
			var items []any
			if items, err = u.popMark(); err == nil {
				u.push(pyTuple(items))
			}
		case opTuple1, opTuple2, opTuple3:
			n := int(op-opTuple1) + 1
			if len(u.stack)-u.base() < n {
				err = fmt.Errorf("stack underflow at byte %d", at)
			} else {
				t := append(pyTuple(nil), u.stack[len(u.stack)-n:]...)
				u.stack = u.stack[:len(u.stack)-n]
				u.push(t)
			}
		case opAppend:
			var v any
			if v, err = u.pop(); err == nil {
				err = u.appendTo([]any{v})
			}
		case opAppends:
			var items []any
			if items, err = u.popMark(); err == nil {
				err = u.appendTo(items)
			}
		case opSetItem:
			var k, v any
			if v, err = u.pop(); err == nil {
				if k, err = u.pop(); err == nil {
					err = u.setItems([]any{k, v})
				}
			}
		case opSetItems:
			var items []any
			if items, err = u.popMark(); err == nil {
				err = u.setItems(items)
			}
		case opBinPersID:
			err = u.persID()
		case opReduce:
			err = u.reduce()
		case opBuild:
			err = u.build()
		default:
			return nil, fmt.Errorf("unsupported opcode 0x%02x at byte %d", op, at)
		}
		if err != nil {
			return nil, err
		}
		if u.objects > maxObjects {
			return nil, fmt.Errorf("more than %d values by byte %d: not a state dict this reader accepts", maxObjects, u.pos)
		}
	}
}

func (u *unpickler) long1() error {
	b, err := u.read(1)
	if err != nil {
		return err
	}
	if b, err = u.read(int(b[0])); err != nil {
		return err
	}
	// Little-endian two's complement.
	be := make([]byte, len(b))
	for i := range b {
		be[len(b)-1-i] = b[i]
	}
	n := new(big.Int).SetBytes(be)
	if len(b) > 0 && b[len(b)-1]&0x80 != 0 {
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	if !n.IsInt64() {
		return fmt.Errorf("integer at byte %d does not fit in 64 bits", u.pos-len(b)-2)
	}
	u.push(n.Int64())
	return nil
}

func (u *unpickler) global(module, name string) error {
	if !allowedGlobal(module, name) {
		return fmt.Errorf("forbidden global %s.%s (a state dict needs only tensors and OrderedDict)", module, name)
	}
	u.push(&pyGlobal{module, name})
	return nil
}

func (u *unpickler) stackGlobal() error {
	n, err := u.pop()
	if err != nil {
		return err
	}
	m, err := u.pop()
	if err != nil {
		return err
	}
	ms, ok1 := m.(string)
	ns, ok2 := n.(string)
	if !ok1 || !ok2 {
		return fmt.Errorf("STACK_GLOBAL at byte %d needs two str, have %s and %s", u.pos-1, pyType(m), pyType(n))
	}
	return u.global(ms, ns)
}

func (u *unpickler) appendTo(items []any) error {
	t, err := u.top()
	if err != nil {
		return err
	}
	l, ok := t.(*pyList)
	if !ok {
		return fmt.Errorf("APPEND at byte %d to a %s", u.pos-1, pyType(t))
	}
	l.items = append(l.items, items...)
	return nil
}

func (u *unpickler) setItems(items []any) error {
	t, err := u.top()
	if err != nil {
		return err
	}
	d, ok := t.(*pyDict)
	if !ok {
		return fmt.Errorf("SETITEM at byte %d on a %s", u.pos-1, pyType(t))
	}
	if len(items)%2 != 0 {
		return fmt.Errorf("SETITEMS at byte %d with an odd number of items", u.pos-1)
	}
	for i := 0; i < len(items); i += 2 {
		if err := d.set(items[i], items[i+1]); err != nil {
			return fmt.Errorf("SETITEM at byte %d: %w", u.pos-1, err)
		}
	}
	return nil
}

// persID resolves ('storage', storage_type, key, location, numel) to a storage reference.
func (u *unpickler) persID() error {
	v, err := u.pop()
	if err != nil {
		return err
	}
	t, ok := v.(pyTuple)
	if !ok || len(t) != 5 {
		return fmt.Errorf("persistent id at byte %d is a %s, want a 5-tuple ('storage', type, key, location, numel)", u.pos-1, pyType(v))
	}
	kind, _ := t[0].(string)
	g, _ := t[1].(*pyGlobal)
	key, okKey := t[2].(string)
	_, okLoc := t[3].(string)
	numel, okN := t[4].(int64)
	if kind != "storage" || g == nil || g.module != "torch" || !okKey || !okLoc || !okN || numel < 0 {
		return fmt.Errorf("persistent id at byte %d is (%s, %s, %s, %s, %s), want ('storage', torch.<Type>Storage, key, location, numel)",
			u.pos-1, pyType(t[0]), pyType(t[1]), pyType(t[2]), pyType(t[3]), pyType(t[4]))
	}
	if _, ok := storageTypes[g.name]; !ok {
		return fmt.Errorf("persistent id at byte %d: %s.%s is not a storage type", u.pos-1, g.module, g.name)
	}
	u.push(&storageRef{typ: g.name, key: key, numel: numel})
	return nil
}

func (u *unpickler) reduce() error {
	a, err := u.pop()
	if err != nil {
		return err
	}
	f, err := u.pop()
	if err != nil {
		return err
	}
	args, ok := a.(pyTuple)
	if !ok {
		return fmt.Errorf("REDUCE at byte %d: arguments are a %s, want a tuple", u.pos-1, pyType(a))
	}
	g, ok := f.(*pyGlobal)
	if !ok {
		return fmt.Errorf("REDUCE at byte %d: cannot call a %s", u.pos-1, pyType(f))
	}
	var v any
	switch g.module + "." + g.name {
	case "collections.OrderedDict":
		if len(args) != 0 {
			return fmt.Errorf("REDUCE at byte %d: OrderedDict with %d arguments, want none", u.pos-1, len(args))
		}
		v = newDict()
	case "torch._utils._rebuild_tensor_v2":
		v, err = rebuildTensor(args)
	case "torch._utils._rebuild_parameter":
		if len(args) < 1 {
			return fmt.Errorf("REDUCE at byte %d: _rebuild_parameter without arguments", u.pos-1)
		}
		t, ok := args[0].(*tensorRef)
		if !ok {
			return fmt.Errorf("REDUCE at byte %d: _rebuild_parameter of a %s, want a tensor", u.pos-1, pyType(args[0]))
		}
		v = t
	default:
		return fmt.Errorf("REDUCE at byte %d: %s.%s is not callable", u.pos-1, g.module, g.name)
	}
	if err != nil {
		return fmt.Errorf("REDUCE at byte %d: %w", u.pos-1, err)
	}
	u.push(v)
	return nil
}

// build applies BUILD's state. Only a dict's state (an OrderedDict's attributes, such as a
// state dict's _metadata) is accepted, and ignored.
func (u *unpickler) build() error {
	s, err := u.pop()
	if err != nil {
		return err
	}
	t, err := u.top()
	if err != nil {
		return err
	}
	if _, ok := t.(*pyDict); !ok {
		return fmt.Errorf("BUILD at byte %d on a %s", u.pos-1, pyType(t))
	}
	_ = s
	return nil
}

// maxElements bounds a tensor's element count, so byte sizes never overflow.
const maxElements = 1 << 56

// rebuildTensor checks _rebuild_tensor_v2(storage, storage_offset, size, stride, ...).
func rebuildTensor(args pyTuple) (*tensorRef, error) {
	if len(args) < 4 || len(args) > 7 {
		return nil, fmt.Errorf("_rebuild_tensor_v2 with %d arguments, want 6 or 7", len(args))
	}
	st, ok := args[0].(*storageRef)
	if !ok {
		return nil, fmt.Errorf("_rebuild_tensor_v2: storage is a %s", pyType(args[0]))
	}
	off, ok := args[1].(int64)
	if !ok || off < 0 {
		return nil, fmt.Errorf("_rebuild_tensor_v2: storage offset is %v (%s), want a non-negative int", args[1], pyType(args[1]))
	}
	size, ok1 := args[2].(pyTuple)
	stride, ok2 := args[3].(pyTuple)
	if !ok1 || !ok2 || len(size) != len(stride) {
		return nil, fmt.Errorf("_rebuild_tensor_v2: size and stride must be tuples of the same length, have %s and %s", pyType(args[2]), pyType(args[3]))
	}
	t := &tensorRef{storage: st, offset: off, shape: make([]int, len(size))}
	n := int64(1)
	for i, s := range size {
		d, ok := s.(int64)
		if !ok || d < 0 || d > maxElements {
			return nil, fmt.Errorf("_rebuild_tensor_v2: size[%d] is %v (%s)", i, s, pyType(s))
		}
		if d != 0 && n > maxElements/d {
			return nil, fmt.Errorf("_rebuild_tensor_v2: size %v is too large", size)
		}
		n *= d
		t.shape[i] = int(d)
	}
	want := int64(1)
	for i := len(size) - 1; i >= 0; i-- {
		s, ok := stride[i].(int64)
		if !ok {
			return nil, fmt.Errorf("_rebuild_tensor_v2: stride[%d] is a %s", i, pyType(stride[i]))
		}
		if n != 0 && t.shape[i] != 1 && s != want && t.err == "" {
			t.err = fmt.Sprintf("size %v with stride %v is not contiguous (stride[%d] is %d, want %d)", t.shape, fmtTuple(stride), i, s, want)
		}
		want *= int64(t.shape[i])
	}
	return t, nil
}

func fmtTuple(t pyTuple) string {
	s := make([]string, len(t))
	for i, v := range t {
		s[i] = fmt.Sprint(v)
	}
	return "[" + strings.Join(s, " ") + "]"
}
