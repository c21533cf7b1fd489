package chat

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/ardanlabs/jinja"
)

// measure returns the size a value prints as (a string's length, and for lists and dicts
// the sum over their items and keys, a little less than the engine prints) and whether it
// exceeds MaxOutput. The walk stops as soon as the total passes MaxOutput (each container or
// item counts at least 2 bytes, so it visits at most MaxOutput/2 values, however much the
// value shares), and it is a limit error when the value nests deeper than MaxDepth or holds
// itself. The sandbox measures every value before the engine walks it, so the engine's own
// recursive walks (printing, comparing, joining) only ever see values that are bounded and
// free of cycles.
func (s *sandbox) measure(v jinja.Value) (int, error) {
	switch {
	case v.IsString():
		return len(v.AsString()), nil
	case !v.IsList() && !v.IsDict():
		return 8, nil
	}
	total := 0
	var path []any // the containers being walked, to name a cycle
	var walk func(v jinja.Value) error
	enter := func(c any) error {
		for _, p := range path {
			if p == c {
				_, err := s.fail("a value holds itself")
				return err
			}
		}
		if len(path) >= s.lim.MaxDepth {
			_, err := s.fail("a value nested more than %d deep", s.lim.MaxDepth)
			return err
		}
		path = append(path, c)
		return nil
	}
	add := func(n int) error {
		if total += n; total > s.lim.MaxOutput {
			return errOver
		}
		return nil
	}
	walk = func(v jinja.Value) error {
		switch {
		case v.IsString():
			return add(len(v.AsString()))
		case v.IsList():
			l := v.AsList()
			if err := enter(l); err != nil {
				return err
			}
			if err := add(2); err != nil {
				return err
			}
			for _, it := range l.Items {
				if err := add(2); err != nil {
					return err
				}
				if err := walk(it); err != nil {
					return err
				}
			}
			path = path[:len(path)-1]
			return nil
		case v.IsDict():
			d := v.AsDict()
			if err := enter(d); err != nil {
				return err
			}
			if err := add(2); err != nil {
				return err
			}
			for _, k := range d.Keys {
				if err := add(len(k) + 4); err != nil {
					return err
				}
				if err := walk(d.Data[k]); err != nil {
					return err
				}
			}
			path = path[:len(path)-1]
			return nil
		}
		return add(8)
	}
	if err := walk(v); err != nil && err != errOver {
		return 0, err
	}
	return total, nil
}

// errOver ends a measuring walk that has passed MaxOutput.
var errOver = errors.New("over the output limit")

// check measures v and refuses a value larger than MaxOutput. It looks at the clock every
// 32nd time (each operation between two checks is bounded by the limits).
func (s *sandbox) check(v jinja.Value) error {
	n, err := s.measure(v)
	if err != nil {
		return err
	}
	if n > s.lim.MaxOutput {
		_, err := s.fail("a value of more than %d bytes", s.lim.MaxOutput)
		return err
	}
	if s.checks++; s.checks%32 == 0 {
		_, err = s.checkTime()
	}
	return err
}

// chk is the filter the rewritten template applies to each operand the engine walks.
func (s *sandbox) chk(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
	if len(args) == 0 {
		return jinja.Undefined(), nil
	}
	if err := s.check(args[0]); err != nil {
		return jinja.Undefined(), err
	}
	return args[0], nil
}

// holds reports whether v is target (a *jinja.List or *jinja.Dict) or contains it. It looks
// at most at budget values (a value shared many times over can be exponentially large to
// walk; budget goes negative when it runs out) and stops at a value it is already inside.
func holds(v jinja.Value, target any, budget *int) bool {
	var path []any
	var walk func(v jinja.Value) bool
	walk = func(v jinja.Value) bool {
		if *budget--; *budget < 0 {
			return false
		}
		var c any
		switch {
		case v.IsList():
			c = v.AsList()
		case v.IsDict():
			c = v.AsDict()
		default:
			return false
		}
		if c == target {
			return true
		}
		for _, p := range path {
			if p == c {
				return false
			}
		}
		path = append(path, c)
		defer func() { path = path[:len(path)-1] }()
		if l, ok := c.(*jinja.List); ok {
			for _, it := range l.Items {
				if walk(it) {
					return true
				}
			}
			return false
		}
		d := c.(*jinja.Dict)
		for _, k := range d.Keys {
			if walk(d.Data[k]) {
				return true
			}
		}
		return false
	}
	return walk(v)
}

// refuseHolding fails when putting v into target would make target hold itself.
func (s *sandbox) refuseHolding(v jinja.Value, target any, what string) error {
	budget := s.lim.MaxOutput / 2
	if holds(v, target, &budget) {
		_, err := s.fail("%s may not hold itself", what)
		return err
	}
	if budget < 0 {
		_, err := s.fail("a value too large to check")
		return err
	}
	return nil
}

// mutated counts a change to a container as a loop iteration (a template cannot grow a
// list faster than it loops).
func (s *sandbox) mutated() error {
	s.iters++
	if s.iters > s.lim.MaxIterations {
		_, err := s.fail("more than %d loop iterations", s.lim.MaxIterations)
		return err
	}
	_, err := s.checkTime()
	return err
}

// attr is x.name for the names in hookedMethods: a dict's own key first, as the engine
// looks it up, then the sandbox's bounded version of the engine's method, or undefined
// where the engine has no such method.
func (s *sandbox) attr(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
	if len(args) != 2 || !args[1].IsString() {
		return jinja.Undefined(), errors.New("attribute hook: bad arguments")
	}
	obj, name := args[0], args[1].AsString()
	fn := func(f func([]jinja.Value) (jinja.Value, error)) jinja.Value {
		return jinja.NewCallable(name, func(a []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) { return f(a) })
	}
	switch {
	case obj.IsDict():
		d := obj.AsDict()
		if v, ok := d.Get(name); ok {
			return v, nil
		}
		if name == "update" {
			return fn(func(a []jinja.Value) (jinja.Value, error) { return s.dictUpdate(d, a) }), nil
		}
	case obj.IsList():
		l := obj.AsList()
		switch name {
		case "append":
			return fn(func(a []jinja.Value) (jinja.Value, error) {
				if len(a) == 0 {
					return jinja.None(), nil
				}
				if err := s.addItem(l, a[0]); err != nil {
					return jinja.Undefined(), err
				}
				l.Append(a[0])
				return jinja.None(), nil
			}), nil
		case "insert":
			return fn(func(a []jinja.Value) (jinja.Value, error) {
				if len(a) < 2 {
					return jinja.None(), nil
				}
				if err := s.addItem(l, a[1]); err != nil {
					return jinja.Undefined(), err
				}
				i := int(min(max(engineInt(a[0]), 0), int64(l.Len())))
				l.Items = append(l.Items, jinja.Undefined())
				copy(l.Items[i+1:], l.Items[i:])
				l.Items[i] = a[1]
				return jinja.None(), nil
			}), nil
		}
	case obj.IsString():
		str := obj.AsString()
		switch name {
		case "replace":
			return fn(func(a []jinja.Value) (jinja.Value, error) {
				if len(a) < 2 {
					return jinja.NewString(str), nil
				}
				count := int64(-1)
				if len(a) > 2 {
					count = engineInt(a[2])
				}
				return s.replace(str, a[0], a[1], count)
			}), nil
		case "format":
			return fn(func(a []jinja.Value) (jinja.Value, error) { return s.format(str, a) }), nil
		case "strip", "lstrip", "rstrip":
			return fn(func(a []jinja.Value) (jinja.Value, error) { return strip(name, str, a), nil }), nil
		}
	}
	return jinja.Undefined(), nil
}

// addItem checks a value about to go into list l.
func (s *sandbox) addItem(l *jinja.List, v jinja.Value) error {
	if err := s.mutated(); err != nil {
		return err
	}
	if err := s.refuseHolding(v, l, "a list"); err != nil {
		return err
	}
	if l.Len() >= s.lim.MaxOutput/2 {
		_, err := s.fail("a list of more than %d items", s.lim.MaxOutput/2)
		return err
	}
	return s.check(v)
}

// dictUpdate is the engine's dict.update: the keys of a dict argument are set in d.
func (s *sandbox) dictUpdate(d *jinja.Dict, a []jinja.Value) (jinja.Value, error) {
	if len(a) == 0 || !a[0].IsDict() {
		return jinja.None(), nil
	}
	other := a[0].AsDict()
	if err := s.mutated(); err != nil {
		return jinja.Undefined(), err
	}
	if other != d {
		if err := s.refuseHolding(a[0], d, "a dict"); err != nil {
			return jinja.Undefined(), err
		}
		if err := s.check(a[0]); err != nil {
			return jinja.Undefined(), err
		}
	}
	for _, k := range other.Keys {
		d.Set(k, other.Data[k])
	}
	return jinja.None(), nil
}

// replace is strings.Replace(str, old, new, count) with the result bounded by MaxOutput.
func (s *sandbox) replace(str string, oldV, newV jinja.Value, count int64) (jinja.Value, error) {
	old, repl := printText(oldV), printText(newV)
	n := int64(strings.Count(str, old)) // for "", the runes plus one, as Replace counts
	if count >= 0 && count < n {
		n = count
	}
	if grow := int64(len(repl)) - int64(len(old)); grow > 0 && n > 0 {
		if n > int64(s.lim.MaxOutput)/grow || int64(len(str))+n*grow > int64(s.lim.MaxOutput) {
			return s.fail("replace would make %d replacements of %d bytes, more than %d bytes", n, len(repl), s.lim.MaxOutput)
		}
	}
	c := -1
	if count >= 0 {
		c = int(min(count, math.MaxInt32))
	}
	return jinja.NewString(strings.Replace(str, old, repl, c)), nil
}

// format is the engine's str.format: for each argument i, "{i}" everywhere and the first
// "{}" become the argument's text; each step is bounded by MaxOutput.
func (s *sandbox) format(str string, args []jinja.Value) (jinja.Value, error) {
	for i, a := range args {
		text := printText(a)
		ph := fmt.Sprintf("{%d}", i)
		if n := strings.Count(str, ph); n > 0 && int64(len(str))+int64(n)*int64(len(text)) > int64(s.lim.MaxOutput) {
			return s.fail("format would make more than %d bytes", s.lim.MaxOutput)
		}
		str = strings.ReplaceAll(str, ph, text)
		if len(str)+len(text) > s.lim.MaxOutput {
			return s.fail("format would make more than %d bytes", s.lim.MaxOutput)
		}
		str = strings.Replace(str, "{}", text, 1)
	}
	return jinja.NewString(str), nil
}

// strip is the engine's str.strip, lstrip and rstrip, with a long non-ASCII set of
// characters looked up in a map rather than scanned for each character.
func strip(name, str string, a []jinja.Value) jinja.Value {
	if len(a) == 0 {
		ws := func(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' }
		switch name {
		case "lstrip":
			return jinja.NewString(strings.TrimLeftFunc(str, ws))
		case "rstrip":
			return jinja.NewString(strings.TrimRightFunc(str, ws))
		}
		return jinja.NewString(strings.TrimSpace(str))
	}
	cut := printText(a[0])
	if len(cut) > 64 && !isASCIIText(cut) {
		set := map[rune]bool{}
		for _, r := range cut {
			set[r] = true
		}
		in := func(r rune) bool { return set[r] }
		switch name {
		case "lstrip":
			return jinja.NewString(strings.TrimLeftFunc(str, in))
		case "rstrip":
			return jinja.NewString(strings.TrimRightFunc(str, in))
		}
		return jinja.NewString(strings.TrimFunc(str, in))
	}
	switch name {
	case "lstrip":
		return jinja.NewString(strings.TrimLeft(str, cut))
	case "rstrip":
		return jinja.NewString(strings.TrimRight(str, cut))
	}
	return jinja.NewString(strings.Trim(str, cut))
}

func isASCIIText(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// joinFilter is the engine's join filter (separator as the second argument or d=, items'
// attribute= for dicts) with the result bounded by MaxOutput.
func (s *sandbox) joinFilter(args []jinja.Value, kwargs map[string]jinja.Value) (jinja.Value, error) {
	if len(args) == 0 {
		return jinja.NewString(""), nil
	}
	if !args[0].IsList() {
		return jinja.NewString(printText(args[0])), nil
	}
	sep := ""
	if len(args) > 1 {
		sep = printText(args[1])
	}
	if v, ok := kwargs["d"]; ok {
		sep = printText(v)
	}
	attr := ""
	if v, ok := kwargs["attribute"]; ok {
		attr = printText(v)
	}
	items := args[0].AsList().Items
	if len(items) > 1 && int64(len(items)-1)*int64(len(sep)) > int64(s.lim.MaxOutput) {
		return s.fail("join of %d items with a %d-byte separator exceeds %d bytes", len(items), len(sep), s.lim.MaxOutput)
	}
	parts := make([]string, len(items))
	total := 0
	for i, it := range items {
		if attr != "" && it.IsDict() {
			if v, ok := it.AsDict().Get(attr); ok {
				it = v
			}
		}
		parts[i] = printText(it)
		if total += len(parts[i]); total > s.lim.MaxOutput {
			return s.fail("join exceeds %d bytes", s.lim.MaxOutput)
		}
	}
	return jinja.NewString(strings.Join(parts, sep)), nil
}

// replaceFilter is the engine's replace filter (string, old, new[, count] or count=) with
// the result bounded by MaxOutput.
func (s *sandbox) replaceFilter(args []jinja.Value, kwargs map[string]jinja.Value) (jinja.Value, error) {
	if len(args) < 3 {
		return jinja.NewString(""), errors.New("replace: expected at least 3 arguments")
	}
	count := int64(-1)
	if len(args) > 3 {
		count = engineInt(args[3])
	}
	if c, ok := kwargs["count"]; ok {
		count = engineInt(c)
	}
	return s.replace(printText(args[0]), args[1], args[2], count)
}

// slice is x[start:stop:step] as the engine computes it (a negative bound counts from the
// end once, a zero step is 1, indexes outside the sequence are skipped; strings by bytes
// when ASCII, else by runes), visiting only the indexes inside the sequence.
func (s *sandbox) slice(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
	if len(args) != 4 {
		return jinja.Undefined(), errors.New("slice hook: bad arguments")
	}
	obj := args[0]
	var n int
	var runes []rune
	switch {
	case obj.IsList():
		n = obj.AsList().Len()
	case obj.IsString():
		if isASCIIText(obj.AsString()) {
			n = len(obj.AsString())
		} else {
			runes = []rune(obj.AsString())
			n = len(runes)
		}
	default:
		return jinja.Undefined(), nil
	}
	absent := func(v jinja.Value) bool { return v.IsCallable() && v.AsCallable().Name == hookAbsent }
	step := int64(1)
	if !absent(args[3]) {
		if step = engineInt(args[3]); step == 0 {
			step = 1
		}
	}
	// The engine converts to int (64 bits here) and adds the length to a negative bound.
	start, stop := int64(0), int64(n)
	if step < 0 {
		start, stop = int64(n)-1, -int64(n)-1
	}
	if !absent(args[1]) {
		if start = engineInt(args[1]); start < 0 {
			start += int64(n)
		}
	}
	if !absent(args[2]) {
		if stop = engineInt(args[2]); stop < 0 {
			stop += int64(n)
		}
	}
	idx := sliceIndexes(start, stop, step, n)
	if obj.IsList() {
		items := obj.AsList().Items
		out := make([]jinja.Value, len(idx))
		for i, k := range idx {
			out[i] = items[k]
		}
		return jinja.NewList(out), nil
	}
	var b strings.Builder
	for _, k := range idx {
		if runes != nil {
			b.WriteRune(runes[k])
		} else {
			b.WriteByte(obj.AsString()[k])
		}
	}
	return jinja.NewString(b.String()), nil
}

// sliceIndexes lists start, start+step, ... while before stop (after it, for a negative
// step), keeping those in [0, n): it first moves start to the first index inside, so the
// work is bounded by n whatever the bounds.
func sliceIndexes(start, stop, step int64, n int) []int {
	var idx []int
	if step > 0 {
		if start < 0 {
			// The first start+k*step >= 0; -start may not fit in an int64.
			d := uint64(-(start + 1)) + 1
			k := (d + uint64(step) - 1) / uint64(step)
			start = int64(uint64(start) + k*uint64(step))
		}
		for i := start; i < stop && i < int64(n); i += step {
			idx = append(idx, int(i))
			if i > math.MaxInt64-step {
				break
			}
		}
		return idx
	}
	if last := int64(n) - 1; start > last {
		d := uint64(start) - uint64(last) // start > last, so this is the distance
		k := (d + uint64(-step) - 1) / uint64(-step)
		start = int64(uint64(start) - k*uint64(-step))
	}
	for i := start; i > stop && i >= 0; i += step {
		idx = append(idx, int(i))
		if i < math.MinInt64-step {
			break
		}
	}
	return idx
}

// engineInt is the engine's conversion to an integer (floats truncate, strings are read
// with %d, booleans are 0 or 1, anything else 0).
func engineInt(v jinja.Value) int64 {
	switch {
	case v.IsInt():
		return v.AsInt()
	case v.IsFloat():
		return int64(v.AsFloat())
	case v.IsBool():
		if v.AsBool() {
			return 1
		}
		return 0
	case v.IsString():
		var n int64
		fmt.Sscanf(v.AsString(), "%d", &n)
		return n
	}
	return 0
}

// printText is a value as the engine prints it into text: strings as they are, none and
// undefined as nothing, lists and dicts in Python's notation.
func printText(v jinja.Value) string {
	switch {
	case v.IsString():
		return v.AsString()
	case v.IsNone(), v.IsUndefined(), v.IsCallable():
		return ""
	case v.IsBool():
		if v.AsBool() {
			return "True"
		}
		return "False"
	case v.IsInt():
		return fmt.Sprintf("%d", v.AsInt())
	case v.IsFloat():
		return fmt.Sprintf("%g", v.AsFloat())
	}
	return v.String()
}
