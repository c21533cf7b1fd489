package grammar

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// JSONGBNF is a GBNF grammar of any JSON value whose top level is an object (OpenAI's
// json_object response format). Whitespace between tokens is at most one space or
// newline, so a model cannot stall on blanks; numbers have at most 16 digits before and
// after the point and a two-digit exponent, so every one fits a float64.
const JSONGBNF = `root ::= object
value ::= object | array | string | number | ("true" | "false" | "null")
object ::= "{" ws ( string ":" ws value ws ( "," ws string ":" ws value ws )* )? "}"
array ::= "[" ws ( value ws ( "," ws value ws )* )? "]"
string ::= "\"" char* "\""
char ::= [^"\\\x00-\x1F] | "\\" ( ["\\/bfnrt] | "u" [0-9a-fA-F]{4} )
number ::= "-"? ( "0" | [1-9] [0-9]{0,15} ) ( "." [0-9]{1,16} )? ( [eE] [-+]? [0-9]{1,2} )?
ws ::= ( " " | "\n" )?
`

// JSONObject returns the grammar of JSONGBNF.
func JSONObject() *Grammar {
	g, err := ParseGBNF(JSONGBNF, "root")
	if err != nil {
		panic(err) // a constant grammar
	}
	return g
}

// FromJSONSchema compiles a JSON Schema into a grammar of the JSON texts it accepts. It
// supports type (a name or a list), properties with required (generated in the schema's
// order, optional ones may be left out; no other properties are generated, whatever
// additionalProperties says), items, minItems, maxItems, minLength, maxLength, enum,
// const, anyOf, oneOf (as anyOf: the alternatives must not overlap), allOf of one schema,
// $ref to "#/$defs/..." or "#/definitions/...", and ignores annotations (title,
// description, format, default, examples). Any other keyword that constrains values
// (pattern, minimum, multipleOf, ...) is an error naming it, so nothing it accepts
// can fail the schema.
func FromJSONSchema(schema []byte) (*Grammar, error) {
	if len(schema) > 1<<20 {
		return nil, fmt.Errorf("json schema: %d bytes; at most 1 MiB", len(schema))
	}
	var root any
	d := json.NewDecoder(bytes.NewReader(schema))
	d.UseNumber()
	if err := d.Decode(&root); err != nil {
		return nil, fmt.Errorf("json schema: %v", err)
	}
	order, err := propertyOrder(schema)
	if err != nil {
		return nil, fmt.Errorf("json schema: %v", err)
	}
	c := &converter{root: root, order: order, rules: map[string]string{}, refs: map[string]string{}}
	c.b.WriteString(primitives)
	top, err := c.visit(root, "#", 0)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(&c.b, "root ::= %s\n", top)
	names := make([]string, 0, len(c.rules))
	for n := range c.rules {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(&c.b, "%s ::= %s\n", n, c.rules[n])
	}
	g, err := ParseGBNF(c.b.String(), "root")
	if err != nil {
		return nil, fmt.Errorf("json schema: %v", err)
	}
	return g, nil
}

const primitives = `ws ::= ( " " | "\n" )?
char ::= [^"\\\x00-\x1F] | "\\" ( ["\\/bfnrt] | "u" [0-9a-fA-F]{4} )
string ::= "\"" char* "\""
integer ::= "-"? ( "0" | [1-9] [0-9]{0,15} )
number ::= integer ( "." [0-9]{1,16} )? ( [eE] [-+]? [0-9]{1,2} )?
boolean ::= "true" | "false"
null ::= "null"
value ::= object | array | string | number | boolean | null
object ::= "{" ws ( string ":" ws value ws ( "," ws string ":" ws value ws )* )? "}"
array ::= "[" ws ( value ws ( "," ws value ws )* )? "]"
`

type converter struct {
	root  any
	order map[string][]string // JSON pointer of a properties object → its keys in order
	b     strings.Builder
	rules map[string]string
	refs  map[string]string // $ref → rule name
	n     int
}

func (c *converter) rule(body string) string {
	c.n++
	name := fmt.Sprintf("r%d", c.n)
	c.rules[name] = body
	return name
}

// literal is the GBNF literal of a JSON value's text.
func literal(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return gbnfString(string(b)), nil
}

func gbnfString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r < 0x20:
			fmt.Fprintf(&b, `\x%02X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

var annotations = map[string]bool{"title": true, "description": true, "format": true, "default": true, "examples": true,
	"$schema": true, "$id": true, "$comment": true, "$defs": true, "definitions": true, "additionalProperties": true,
	"strict": true, "deprecated": true, "readOnly": true, "writeOnly": true}

func (c *converter) visit(s any, ptr string, depth int) (string, error) {
	if depth > 64 {
		return "", fmt.Errorf("json schema: %s: nested too deep", ptr)
	}
	switch v := s.(type) {
	case bool:
		if v {
			return "value", nil
		}
		return "", fmt.Errorf("json schema: %s: the schema false accepts nothing", ptr)
	case map[string]any:
		return c.object(v, ptr, depth)
	}
	return "", fmt.Errorf("json schema: %s: a schema must be an object or a boolean", ptr)
}

func (c *converter) object(s map[string]any, ptr string, depth int) (string, error) {
	known := map[string]bool{"type": true, "properties": true, "required": true, "items": true, "minItems": true, "maxItems": true,
		"minLength": true, "maxLength": true, "enum": true, "const": true, "anyOf": true, "oneOf": true, "allOf": true, "$ref": true}
	for k := range s {
		if !known[k] && !annotations[k] {
			return "", fmt.Errorf("json schema: %s: keyword %q is not supported", ptr, k)
		}
	}
	if ref, ok := s["$ref"].(string); ok {
		return c.ref(ref, depth)
	}
	if cv, ok := s["const"]; ok {
		return literal(cv)
	}
	if ev, ok := s["enum"]; ok {
		list, ok := ev.([]any)
		if !ok || len(list) == 0 {
			return "", fmt.Errorf("json schema: %s/enum: want a non-empty list", ptr)
		}
		var alts []string
		for _, x := range list {
			l, err := literal(x)
			if err != nil {
				return "", err
			}
			alts = append(alts, l)
		}
		return c.rule(strings.Join(alts, " | ")), nil
	}
	for _, k := range []string{"anyOf", "oneOf"} {
		if av, ok := s[k]; ok {
			list, ok := av.([]any)
			if !ok || len(list) == 0 {
				return "", fmt.Errorf("json schema: %s/%s: want a non-empty list", ptr, k)
			}
			var alts []string
			for i, x := range list {
				r, err := c.visit(x, fmt.Sprintf("%s/%s/%d", ptr, k, i), depth+1)
				if err != nil {
					return "", err
				}
				alts = append(alts, r)
			}
			return c.rule(strings.Join(alts, " | ")), nil
		}
	}
	if av, ok := s["allOf"]; ok {
		list, ok := av.([]any)
		if !ok || len(list) != 1 {
			return "", fmt.Errorf("json schema: %s/allOf: only a list of one schema is supported", ptr)
		}
		return c.visit(list[0], ptr+"/allOf/0", depth+1)
	}
	var types []string
	switch t := s["type"].(type) {
	case string:
		types = []string{t}
	case []any:
		for _, x := range t {
			if n, ok := x.(string); ok {
				types = append(types, n)
			}
		}
	case nil:
		if _, ok := s["properties"]; ok {
			types = []string{"object"}
		} else if _, ok := s["items"]; ok {
			types = []string{"array"}
		} else {
			return "value", nil
		}
	}
	if len(types) == 0 {
		return "", fmt.Errorf("json schema: %s/type: want a type name or a list of them", ptr)
	}
	var alts []string
	for _, t := range types {
		r, err := c.typed(t, s, ptr, depth)
		if err != nil {
			return "", err
		}
		alts = append(alts, r)
	}
	if len(alts) == 1 {
		return alts[0], nil
	}
	return c.rule(strings.Join(alts, " | ")), nil
}

func count(s map[string]any, key, ptr string) (int, bool, error) {
	v, ok := s[key]
	if !ok {
		return 0, false, nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return 0, false, fmt.Errorf("json schema: %s/%s: want a number", ptr, key)
	}
	i, err := strconv.Atoi(n.String())
	if err != nil || i < 0 || i > maxRepeat {
		return 0, false, fmt.Errorf("json schema: %s/%s is %s: want an integer in [0, %d]", ptr, key, n, maxRepeat)
	}
	return i, true, nil
}

func repeatSuffix(lo, hi int, hasHi bool) string {
	switch {
	case !hasHi && lo == 0:
		return "*"
	case !hasHi:
		return fmt.Sprintf("{%d,}", lo)
	}
	return fmt.Sprintf("{%d,%d}", lo, hi)
}

func (c *converter) typed(t string, s map[string]any, ptr string, depth int) (string, error) {
	switch t {
	case "string":
		lo, _, err := count(s, "minLength", ptr)
		if err != nil {
			return "", err
		}
		hi, hasHi, err := count(s, "maxLength", ptr)
		if err != nil {
			return "", err
		}
		if !hasHi && lo == 0 {
			return "string", nil
		}
		if hasHi && hi < lo {
			return "", fmt.Errorf("json schema: %s: maxLength %d < minLength %d", ptr, hi, lo)
		}
		return c.rule(`"\"" char` + repeatSuffix(lo, hi, hasHi) + ` "\""`), nil
	case "integer", "number", "boolean", "null":
		return t, nil
	case "array":
		item := "value"
		if it, ok := s["items"]; ok {
			r, err := c.visit(it, ptr+"/items", depth+1)
			if err != nil {
				return "", err
			}
			item = r
		}
		lo, _, err := count(s, "minItems", ptr)
		if err != nil {
			return "", err
		}
		hi, hasHi, err := count(s, "maxItems", ptr)
		if err != nil {
			return "", err
		}
		if hasHi && hi < lo {
			return "", fmt.Errorf("json schema: %s: maxItems %d < minItems %d", ptr, hi, lo)
		}
		switch {
		case hasHi && hi == 0:
			return c.rule(`"[" ws "]"`), nil
		case lo == 0:
			more := repeatSuffix(0, hi-1, hasHi)
			return c.rule(fmt.Sprintf(`"[" ws ( %s ws ( "," ws %s ws )%s )? "]"`, item, item, more)), nil
		}
		more := repeatSuffix(lo-1, hi-1, hasHi)
		return c.rule(fmt.Sprintf(`"[" ws %s ws ( "," ws %s ws )%s "]"`, item, item, more)), nil
	case "object":
		return c.properties(s, ptr, depth)
	}
	return "", fmt.Errorf("json schema: %s/type: unknown type %q", ptr, t)
}

// properties makes the rule of an object schema: its properties in the schema's order,
// the required ones always, the others optional.
func (c *converter) properties(s map[string]any, ptr string, depth int) (string, error) {
	props, _ := s["properties"].(map[string]any)
	if _, ok := s["properties"]; ok && props == nil {
		return "", fmt.Errorf("json schema: %s/properties: want an object", ptr)
	}
	if len(props) == 0 {
		if _, ok := s["properties"]; !ok {
			return "object", nil // any object
		}
		return c.rule(`"{" ws "}"`), nil
	}
	req := map[string]bool{}
	if rv, ok := s["required"]; ok {
		list, ok := rv.([]any)
		if !ok {
			return "", fmt.Errorf("json schema: %s/required: want a list of names", ptr)
		}
		for _, x := range list {
			n, ok := x.(string)
			if !ok {
				return "", fmt.Errorf("json schema: %s/required: want a list of names", ptr)
			}
			if _, ok := props[n]; !ok {
				return "", fmt.Errorf("json schema: %s/required: %q is not among the properties", ptr, n)
			}
			req[n] = true
		}
	}
	keys := c.order[ptr+"/properties"]
	if len(keys) != len(props) {
		keys = keys[:0]
		for k := range props {
			keys = append(keys, k)
		}
		sort.Strings(keys)
	}
	kv := make([]string, len(keys))
	for i, k := range keys {
		r, err := c.visit(props[k], ptr+"/properties/"+k, depth+1)
		if err != nil {
			return "", err
		}
		kv[i] = gbnfString(strconvQuote(k)) + ` ":" ws ` + r + " ws"
	}
	// after[i]: properties i.. once one has been written (each needs a comma);
	// first[i]: properties i.. while none has been.
	n := len(keys)
	after := make([]string, n+1)
	first := make([]string, n+1)
	after[n], first[n] = `""`, `""`
	for i := n - 1; i >= 0; i-- {
		a := `"," ws ` + kv[i] + " " + after[i+1]
		f := kv[i] + " " + after[i+1]
		if !req[keys[i]] {
			a += " | " + after[i+1]
			f += " | " + first[i+1]
		}
		after[i] = c.rule(a)
		first[i] = c.rule(f)
	}
	return c.rule(`"{" ws ` + first[0] + ` "}"`), nil
}

func strconvQuote(k string) string {
	b, _ := json.Marshal(k)
	return string(b)
}

func (c *converter) ref(ref string, depth int) (string, error) {
	if r, ok := c.refs[ref]; ok {
		return r, nil
	}
	var target any
	for _, pre := range []string{"#/$defs/", "#/definitions/"} {
		if name, ok := strings.CutPrefix(ref, pre); ok {
			if m, ok := c.root.(map[string]any); ok {
				if defs, ok := m[strings.Trim(pre[1:], "/")].(map[string]any); ok {
					target = defs[name]
				}
			}
		}
	}
	if ref == "#" {
		target = c.root
	}
	if target == nil {
		return "", fmt.Errorf("json schema: $ref %q: only #, #/$defs/NAME and #/definitions/NAME that exist are supported", ref)
	}
	// Name the rule first so recursive references find it.
	name := fmt.Sprintf("ref%d", len(c.refs)+1)
	c.refs[ref] = name
	r, err := c.visit(target, ref, depth+1)
	if err != nil {
		return "", err
	}
	c.rules[name] = r
	return name, nil
}

// propertyOrder reads the order of the keys of every "properties" object in the schema,
// by JSON pointer (Go maps forget it).
func propertyOrder(schema []byte) (map[string][]string, error) {
	out := map[string][]string{}
	d := json.NewDecoder(bytes.NewReader(schema))
	var walk func(ptr string, collect bool) error
	walk = func(ptr string, collect bool) error {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'):
			for d.More() {
				kt, err := d.Token()
				if err != nil {
					return err
				}
				k := kt.(string)
				if collect {
					out[ptr] = append(out[ptr], k)
				}
				if err := walk(ptr+"/"+k, k == "properties" && !collect); err != nil {
					return err
				}
			}
			_, err = d.Token()
			return err
		case json.Delim('['):
			for i := 0; d.More(); i++ {
				if err := walk(fmt.Sprintf("%s/%d", ptr, i), false); err != nil {
					return err
				}
			}
			_, err = d.Token()
			return err
		}
		return nil
	}
	return out, walk("#", false)
}
