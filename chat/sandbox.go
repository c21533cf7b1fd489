package chat

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/ardanlabs/jinja"
)

// ErrLimit is wrapped by the error of a render that broke one of its [Limits]: a range too
// long, too many loop iterations, recursion too deep, output too large or too slow. A server
// answers such a request with a client error and goes on serving.
var ErrLimit = errors.New("chat template exceeded a sandbox limit")

// Limits bound the work of one Jinja render. Chat templates come from downloaded
// tokenizer_config.json files, so a template that loops forever, recurses without end or
// builds gigabytes of text must fail cleanly. A zero field takes its value from
// [DefaultLimits].
type Limits struct {
	// MaxRange is the most items range() may produce (Hugging Face caps it at 100,000).
	MaxRange int
	// MaxIterations is the most loop iterations of one render, all loops together.
	MaxIterations int
	// MaxDepth is the deepest nesting of macro calls, and of any value the engine walks
	// (prints, compares, joins, writes with tojson).
	MaxDepth int
	// MaxOutput is the most bytes a render may produce, and the largest value (as printed)
	// a template may set or the engine may walk in one operation.
	MaxOutput int
	// Timeout is the longest a render may run.
	Timeout time.Duration
}

// DefaultLimits are generous for any real chat template: a conversation of 10,000 messages
// renders far within them.
var DefaultLimits = Limits{
	MaxRange:      100_000,
	MaxIterations: 250_000,
	MaxDepth:      100,
	MaxOutput:     16 << 20,
	Timeout:       5 * time.Second,
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	if l.MaxRange > 0 {
		d.MaxRange = l.MaxRange
	}
	if l.MaxIterations > 0 {
		d.MaxIterations = l.MaxIterations
	}
	if l.MaxDepth > 0 {
		d.MaxDepth = l.MaxDepth
	}
	if l.MaxOutput > 0 {
		d.MaxOutput = l.MaxOutput
	}
	if l.Timeout > 0 {
		d.Timeout = l.Timeout
	}
	return d
}

// Limits on the template source, checked when it is compiled.
const (
	maxSourceBytes = 1 << 20 // a real chat template is a few KiB
	maxNesting     = 64      // brackets within one tag; the parser recurses on them
)

// The names under which the sandbox's hooks are passed to a render. The rewritten template
// calls them; templates cannot be expected to use such names themselves.
const (
	hookLoop  = "__decilm_loop"  // at the start of each loop iteration
	hookEnter = "__decilm_enter" // at the start of a macro call
	hookLeave = "__decilm_leave" // at the end of a macro call
	hookOut   = "__decilm_out"   // around each {{ expression }}
	hookVal   = "__decilm_val"   // around each value assigned by set
)

// tagSeg is one piece of a template's source, split as the Jinja engine splits it: text, or
// a {{ }}, {% %} or {# #} tag with its whitespace-control markers.
type tagSeg struct {
	kind        byte // 't' text, '{' expression, '%' statement, '#' comment
	text        string
	left, right bool // "-" after the opener / before the closer
}

// splitTemplate splits source into text and tags. Quotes inside tags are skipped, so a
// closer inside a string literal does not end the tag; an unclosed tag is an error.
func splitTemplate(source string) ([]tagSeg, error) {
	var segs []tagSeg
	textStart := 0
	for i := 0; i+1 < len(source); {
		if source[i] != '{' || (source[i+1] != '{' && source[i+1] != '%' && source[i+1] != '#') {
			i++
			continue
		}
		kind := source[i+1]
		closer := "}}"
		switch kind {
		case '%':
			closer = "%}"
		case '#':
			closer = "#}"
		}
		if i > textStart {
			segs = append(segs, tagSeg{kind: 't', text: source[textStart:i]})
		}
		open := i
		i += 2
		seg := tagSeg{kind: kind}
		if i < len(source) && source[i] == '-' {
			seg.left = true
			i++
		}
		start, found := i, false
		for i < len(source) {
			c := source[i]
			if kind != '#' && (c == '\'' || c == '"') {
				i++
				for i < len(source) && source[i] != c {
					if source[i] == '\\' && i+1 < len(source) {
						i++
					}
					i++
				}
				i++
				continue
			}
			if c == '-' && strings.HasPrefix(source[i+1:], closer) {
				seg.text, seg.right, found = source[start:i], true, true
				i += 3
				break
			}
			if strings.HasPrefix(source[i:], closer) {
				seg.text, found = source[start:i], true
				i += 2
				break
			}
			i++
		}
		if !found {
			return nil, fmt.Errorf("unclosed tag at byte %d", open)
		}
		segs = append(segs, seg)
		textStart = i
	}
	if textStart < len(source) {
		segs = append(segs, tagSeg{kind: 't', text: source[textStart:]})
	}
	return segs, nil
}

func (s tagSeg) String() string {
	if s.kind == 't' {
		return s.text
	}
	var b strings.Builder
	b.WriteByte('{')
	b.WriteByte(s.kind)
	if s.left {
		b.WriteByte('-')
	}
	b.WriteString(s.text)
	if s.right {
		b.WriteByte('-')
	}
	switch s.kind {
	case '{':
		b.WriteString("}}")
	case '%':
		b.WriteString("%}")
	default:
		b.WriteString("#}")
	}
	return b.String()
}

// keyword returns the keyword of a statement tag as the engine reads it: the letters and
// underscores it starts with.
func (s tagSeg) keyword() string {
	t := strings.TrimSpace(s.text)
	for i, r := range t {
		if !unicode.IsLetter(r) && r != '_' {
			return t[:i]
		}
	}
	return t
}

// sandboxSource rewrites a template so that a render can be bounded from outside the engine:
// each loop iteration and macro call reports to a hook, each {{ expression }} and each value
// set passes through a hook that measures it, every expression is rewritten so that the
// engine's work inside it is bounded too (see rewriteExpr), and range is replaced at render
// time by a bounded one. Whitespace control
// is applied here, as Python's jinja2 applies it (see applyWhitespace), and every piece of
// text becomes a string expression, so that the engine's own trimming has nothing to act on.
// It also refuses sources too large or too deeply nested to parse safely.
func sandboxSource(source string) (string, error) {
	if len(source) > maxSourceBytes {
		return "", fmt.Errorf("template is %d bytes, more than the %d allowed: %w", len(source), maxSourceBytes, ErrLimit)
	}
	// As jinja2's lexer does: every newline is "\n", and one at the very end is dropped
	// (keep_trailing_newline is off).
	if strings.Contains(source, "\r") {
		source = strings.ReplaceAll(strings.ReplaceAll(source, "\r\n", "\n"), "\r", "\n")
	}
	source = strings.TrimSuffix(source, "\n")
	segs, err := splitTemplate(source)
	if err != nil {
		return "", err
	}
	if segs, err = applyWhitespace(segs); err != nil {
		return "", err
	}
	type open struct {
		kw   string
		text int // bytes of literal text directly in the body
		at   int // index in out of the hook whose argument is the text size
	}
	var stack []open
	var out []tagSeg
	for _, s := range segs {
		switch s.kind {
		case 't':
			if len(stack) > 0 {
				stack[len(stack)-1].text += len(s.text)
			}
			out = append(out, tagSeg{kind: '{', text: " " + quoteJinja(s.text) + " "})
			continue
		case '#', 'r':
			continue
		}
		if err := checkNesting(s.text); err != nil {
			return "", err
		}
		if s.kind == '{' {
			e, err := rewriteExpr(s.text)
			if err != nil {
				return "", err
			}
			s.text = " " + hookOut + "(" + e + ") "
			out = append(out, s)
			continue
		}
		kw := s.keyword()
		if s.text, err = rewriteStatement(s.text); err != nil {
			return "", fmt.Errorf("{%% %s %%}: %w", kw, err)
		}
		switch kw {
		case "for", "macro":
			out = append(out, s)
			stack = append(stack, open{kw: kw, at: len(out)})
			hook := hookLoop
			if kw == "macro" {
				hook = hookEnter
			}
			// The argument (the body's text size) is filled in at the end tag.
			out = append(out, tagSeg{kind: '{', text: hook + "(%d)"})
		case "endfor", "endmacro":
			want := kw[3:]
			if len(stack) == 0 || stack[len(stack)-1].kw != want {
				return "", fmt.Errorf("{%% %s %%} without {%% %s %%}", kw, want)
			}
			o := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			h := &out[o.at]
			h.text = " " + strings.Replace(h.text, "%d", strconv.Itoa(o.text), 1) + " "
			if kw == "endmacro" {
				out = append(out, tagSeg{kind: '{', text: " " + hookLeave + "() "})
			}
			out = append(out, s)
		default:
			out = append(out, s)
		}
	}
	if len(stack) > 0 {
		return "", fmt.Errorf("{%% %s %%} without {%% end%s %%}", stack[len(stack)-1].kw, stack[len(stack)-1].kw)
	}
	var b strings.Builder
	for _, s := range out {
		b.WriteString(s.String())
	}
	return b.String(), nil
}

// checkNesting refuses a tag whose brackets nest deeper than maxNesting.
func checkNesting(s string) error {
	depth := 0
	inQuote := byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inQuote != 0:
			if c == '\\' {
				i++
			} else if c == inQuote {
				inQuote = 0
			}
		case c == '\'' || c == '"':
			inQuote = c
		case c == '(' || c == '[' || c == '{':
			depth++
			if depth > maxNesting {
				return fmt.Errorf("brackets nested more than %d deep: %w", maxNesting, ErrLimit)
			}
		case c == ')' || c == ']' || c == '}':
			depth--
		}
	}
	return nil
}

// sandbox is the state of one render: what it has used of its limits.
type sandbox struct {
	lim      Limits
	deadline time.Time
	iters    int
	checks   int // values measured by check
	depth    int
	output   int
	err      error // the first limit broken (the engine may reword errors from hooks)
}

// fail records and returns a limit error.
func (s *sandbox) fail(format string, args ...any) (jinja.Value, error) {
	if s.err == nil {
		s.err = fmt.Errorf("%w: "+format, append([]any{ErrLimit}, args...)...)
	}
	return jinja.Undefined(), s.err
}

func (s *sandbox) checkTime() (jinja.Value, error) {
	if time.Now().After(s.deadline) {
		return s.fail("render took longer than %v", s.lim.Timeout)
	}
	return jinja.NewString(""), nil
}

// addOutput counts n more bytes of output.
func (s *sandbox) addOutput(n int) (jinja.Value, error) {
	s.output += n
	if s.output > s.lim.MaxOutput {
		return s.fail("output exceeds %d bytes", s.lim.MaxOutput)
	}
	return s.checkTime()
}

// globals returns the hooks and the bounded range, to pass with the template's data.
func (s *sandbox) globals() map[string]jinja.Value {
	intArg := func(args []jinja.Value, i int) int {
		if i < len(args) && args[i].IsInt() {
			return int(args[i].AsInt())
		}
		return 0
	}
	return map[string]jinja.Value{
		"range":    jinja.NewCallable("range", s.rangeFn),
		hookMul:    jinja.NewCallable(hookMul, s.mul),
		hookIndent: jinja.NewCallable("indent", s.indent),
		hookLoop: jinja.NewCallable(hookLoop, func(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
			s.iters++
			if s.iters > s.lim.MaxIterations {
				return s.fail("more than %d loop iterations", s.lim.MaxIterations)
			}
			return s.addOutput(intArg(args, 0))
		}),
		hookEnter: jinja.NewCallable(hookEnter, func(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
			s.depth++
			if s.depth > s.lim.MaxDepth {
				return s.fail("macro calls nested more than %d deep", s.lim.MaxDepth)
			}
			return s.addOutput(intArg(args, 0))
		}),
		hookLeave: jinja.NewCallable(hookLeave, func([]jinja.Value, map[string]jinja.Value) (jinja.Value, error) {
			s.depth--
			return jinja.NewString(""), nil
		}),
		hookOut: jinja.NewCallable(hookOut, func(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
			if len(args) != 1 {
				return jinja.Undefined(), nil
			}
			n, err := s.measure(args[0])
			if err != nil {
				return jinja.Undefined(), err
			}
			if _, err := s.addOutput(n); err != nil {
				return jinja.Undefined(), err
			}
			return args[0], nil
		}),
		hookVal: jinja.NewCallable(hookVal, func(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
			if len(args) == 0 || len(args) > 2 {
				return jinja.Undefined(), nil
			}
			if err := s.check(args[0]); err != nil {
				return jinja.Undefined(), err
			}
			if len(args) == 2 && args[1].IsDict() {
				if err := s.refuseHolding(args[0], args[1].AsDict(), "a namespace"); err != nil {
					return jinja.Undefined(), err
				}
			}
			return args[0], nil
		}),
		hookChk:     jinja.NewCallable(hookChk, s.chk),
		hookAttr:    jinja.NewCallable(hookAttr, s.attr),
		hookSlice:   jinja.NewCallable(hookSlice, s.slice),
		hookAbsent:  jinja.NewCallable(hookAbsent, func([]jinja.Value, map[string]jinja.Value) (jinja.Value, error) { return jinja.Undefined(), nil }),
		hookJoin:    jinja.NewCallable("join", s.joinFilter),
		hookReplace: jinja.NewCallable("replace", s.replaceFilter),
	}
}

// rangeFn is Python's range, refusing to make more than MaxRange items.
func (s *sandbox) rangeFn(args []jinja.Value, kwargs map[string]jinja.Value) (jinja.Value, error) {
	if len(kwargs) > 0 {
		return jinja.Undefined(), errors.New("range takes no keyword arguments")
	}
	var v [3]int64
	for i, a := range args {
		if i >= 3 || !a.IsInt() {
			return jinja.Undefined(), fmt.Errorf("range: want 1 to 3 integers, got %d arguments", len(args))
		}
		v[i] = a.AsInt()
	}
	start, stop, step := int64(0), v[0], int64(1)
	switch len(args) {
	case 0:
		return jinja.Undefined(), errors.New("range: want 1 to 3 integers, got none")
	case 2:
		start, stop = v[0], v[1]
	case 3:
		start, stop, step = v[0], v[1], v[2]
	}
	if step == 0 {
		return jinja.Undefined(), errors.New("range: step must not be zero")
	}
	// The count in floating point first: the exact one may overflow only when it is huge.
	if f := (float64(stop) - float64(start)) / float64(step); f > float64(s.lim.MaxRange) {
		return s.fail("range of %.0f items exceeds %d", math.Ceil(f), s.lim.MaxRange)
	}
	var n int64
	switch {
	case step > 0 && stop > start:
		n = (stop - start + step - 1) / step
	case step < 0 && stop < start:
		n = (start - stop - step - 1) / -step
	}
	if n < 0 || n > int64(s.lim.MaxRange) {
		return s.fail("range of %d items exceeds %d", n, s.lim.MaxRange)
	}
	items := make([]jinja.Value, n)
	for i := range items {
		items[i] = jinja.NewInt(start + int64(i)*step)
	}
	return jinja.NewList(items), nil
}

// hookIndent is the name the sandbox gives the indent filter.
const hookIndent = "__decilm_indent"

// indent is the engine's indent filter (width, then first: indent the first line too), with
// the padding bounded by MaxOutput.
func (s *sandbox) indent(args []jinja.Value, kwargs map[string]jinja.Value) (jinja.Value, error) {
	if len(args) == 0 {
		return jinja.NewString(""), nil
	}
	str := args[0].String()
	if args[0].IsString() {
		str = args[0].AsString()
	}
	width := int64(4)
	if len(args) > 1 {
		width = numInt(args[1])
	}
	if w, ok := kwargs["width"]; ok {
		width = numInt(w)
	}
	first := len(args) > 2 && args[2].IsTruthy()
	if f, ok := kwargs["first"]; ok {
		first = f.IsTruthy()
	}
	width = max(width, 0)
	lines := strings.Split(str, "\n")
	if width > int64(s.lim.MaxOutput) || width*int64(len(lines)) > int64(s.lim.MaxOutput) {
		return s.fail("indent of %d lines by %d exceeds %d bytes", len(lines), width, s.lim.MaxOutput)
	}
	pad := strings.Repeat(" ", int(width))
	for i, line := range lines {
		if (i > 0 || first) && line != "" {
			lines[i] = pad + line
		}
	}
	return jinja.NewString(strings.Join(lines, "\n")), nil
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// hookMul is the sandbox's multiplication: the engine's "string * n" would allocate whatever n
// asks for.
const hookMul = "__decilm_mul"

// mul is "*" with string and list repetition bounded by MaxOutput.
func (s *sandbox) mul(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
	if len(args) != 2 {
		return jinja.Undefined(), errors.New("multiplication needs two operands")
	}
	a, b := args[0], args[1]
	if b.IsString() && a.IsInt() {
		a, b = b, a
	}
	switch {
	case a.IsString() && b.IsInt():
		n := b.AsInt()
		if n <= 0 || a.AsString() == "" {
			return jinja.NewString(""), nil
		}
		if n > int64(s.lim.MaxOutput) || int64(len(a.AsString()))*n > int64(s.lim.MaxOutput) {
			return s.fail("string repetition of %d bytes × %d exceeds %d bytes", len(a.AsString()), n, s.lim.MaxOutput)
		}
		return jinja.NewString(strings.Repeat(a.AsString(), int(n))), nil
	case a.IsFloat() || b.IsFloat():
		return jinja.NewFloat(numFloat(a) * numFloat(b)), nil
	case a.IsInt() && b.IsInt():
		return jinja.NewInt(a.AsInt() * b.AsInt()), nil
	case a.IsBool() || b.IsBool():
		return jinja.NewInt(numInt(a) * numInt(b)), nil
	}
	return jinja.Undefined(), fmt.Errorf("unsupported operands for *: %s and %s", kindName(a), kindName(b))
}

func numFloat(v jinja.Value) float64 {
	switch {
	case v.IsFloat():
		return v.AsFloat()
	case v.IsInt():
		return float64(v.AsInt())
	case v.IsBool() && v.AsBool():
		return 1
	}
	return 0
}

func numInt(v jinja.Value) int64 {
	switch {
	case v.IsInt():
		return v.AsInt()
	case v.IsBool() && v.AsBool():
		return 1
	}
	return 0
}

func kindName(v jinja.Value) string {
	switch {
	case v.IsString():
		return "string"
	case v.IsList():
		return "list"
	case v.IsDict():
		return "dict"
	case v.IsNone():
		return "none"
	case v.IsUndefined():
		return "undefined"
	}
	return "value"
}

func isIdent(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isIdentByte(s[i]) {
			return false
		}
	}
	return true
}

// applyWhitespace applies jinja2's whitespace control, with trim_blocks and lstrip_blocks on
// as transformers sets them, to the text between tags: "-" after a tag's opener strips all
// whitespace before it and "-" before its closer all whitespace after it; otherwise a block
// or comment tag removes the newline right after it (trim_blocks) and the spaces and tabs
// between the start of its line and itself (lstrip_blocks). Raw blocks become text. Markers
// are cleared from the tags, comments kept (for their place) and empty texts dropped.
func applyWhitespace(in []tagSeg) ([]tagSeg, error) {
	// Raw blocks: their content is text; the raw tags stay as tags (without output) for the
	// whitespace rules.
	var segs []tagSeg
	for i := 0; i < len(in); i++ {
		s := in[i]
		if s.kind != '%' || s.keyword() != "raw" {
			segs = append(segs, s)
			continue
		}
		var b strings.Builder
		j := i + 1
		for ; j < len(in) && !(in[j].kind == '%' && in[j].keyword() == "endraw"); j++ {
			b.WriteString(in[j].String())
		}
		if j == len(in) {
			return nil, errors.New("{% raw %} without {% endraw %}")
		}
		// jinja2 does not trim the newline after {% raw %} (kind 'r': no trim_blocks).
		segs = append(segs, tagSeg{kind: 'r', left: s.left, right: s.right}, tagSeg{kind: 't', text: b.String()}, tagSeg{kind: '#', left: in[j].left, right: in[j].right})
		i = j
	}
	isBlock := func(s tagSeg) bool { return s.kind == '%' || s.kind == '#' }
	for i := range segs {
		if segs[i].kind != 't' {
			continue
		}
		text := segs[i].text
		if i+1 < len(segs) {
			switch next := segs[i+1]; {
			case next.left:
				text = strings.TrimRightFunc(text, unicode.IsSpace)
			case isBlock(next) || next.kind == 'r':
				trimmed := strings.TrimRight(text, " \t")
				if strings.HasSuffix(trimmed, "\n") || (trimmed == "" && i == 0) {
					text = trimmed
				}
			}
		}
		if i > 0 {
			switch prev := segs[i-1]; {
			case prev.right:
				text = strings.TrimLeftFunc(text, unicode.IsSpace)
			case isBlock(prev):
				text = strings.TrimPrefix(text, "\n")
			}
		}
		segs[i].text = text
	}
	out := segs[:0]
	for _, s := range segs {
		if s.kind == 't' && s.text == "" {
			continue
		}
		s.left, s.right = false, false
		out = append(out, s)
	}
	return out, nil
}

// quoteJinja writes s as a Jinja string literal.
func quoteJinja(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
