package kubernetes

import (
	"bytes"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// kubernetesDialect rewrites, in place, a schema document holding upstream Kubernetes
// schemas (OpenAPI v3 schemas with the Kubernetes extensions, as the files in
// testdata/schemas keep them) into the JSON Schema that the API server applies:
//
//   - Unknown fields: an object schema with properties, and with neither
//     additionalProperties nor x-kubernetes-preserve-unknown-fields: true, refuses other
//     fields, as the API server does under kubectl's default --validate=strict (and as
//     kubeconform -strict does).
//   - x-kubernetes-int-or-string: true, and format: int-or-string, allow an integer or a
//     string: a oneOf or anyOf that says so is kept, or one is added, and a type (which
//     would allow only one of them) is dropped.
//   - nullable: true allows null besides the type.
//
// The type-less allOf wrappers that the OpenAPI documents put around references
// ({"allOf": [{"$ref": ...}], "default": ..., "description": ...}) need nothing: they
// have no properties, so they stay open, and draft 2020-12 applies the $ref as it is. The
// x-kubernetes-validations (CEL) rules and the list-type extensions are not checked.
func kubernetesDialect(s any) {
	m, ok := s.(map[string]any)
	if !ok {
		return
	}
	if m["x-kubernetes-int-or-string"] == true || m["format"] == "int-or-string" {
		if m["oneOf"] == nil && m["anyOf"] == nil {
			m["anyOf"] = []any{map[string]any{"type": "integer"}, map[string]any{"type": "string"}}
		}
		delete(m, "type")
	}
	if t, ok := m["type"].(string); ok && m["nullable"] == true {
		m["type"] = []any{t, "null"}
	}
	if props, ok := m["properties"].(map[string]any); ok {
		if _, has := m["additionalProperties"]; !has && m["x-kubernetes-preserve-unknown-fields"] != true {
			m["additionalProperties"] = false
		}
		for _, p := range props {
			kubernetesDialect(p)
		}
	}
	for _, k := range []string{"additionalProperties", "items", "not"} {
		kubernetesDialect(m[k])
	}
	for _, k := range []string{"allOf", "anyOf", "oneOf"} {
		l, _ := m[k].([]any)
		for _, x := range l {
			kubernetesDialect(x)
		}
	}
	defs, _ := m["$defs"].(map[string]any)
	for _, d := range defs {
		kubernetesDialect(d)
	}
}

// TestKubernetesDialect: the extensions mean what they mean to the API server.
func TestKubernetesDialect(t *testing.T) {
	const schema = `{"$defs": {
		"IntOrString": {"format": "int-or-string", "oneOf": [{"type": "integer"}, {"type": "string"}]},
		"CRDIntOrString": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]},
		"Port": {"properties": {"number": {"type": "integer"}}}},
	 "type": "object",
	 "properties": {
		"port": {"allOf": [{"$ref": "#/$defs/IntOrString"}], "default": {}, "description": "a wrapper"},
		"crdPort": {"$ref": "#/$defs/CRDIntOrString"},
		"bare": {"type": "string", "format": "int-or-string"},
		"ports": {"type": "array", "items": {"$ref": "#/$defs/Port"}},
		"labels": {"type": "object", "additionalProperties": {"type": "string"}},
		"raw": {"type": "object", "properties": {"a": {"type": "string"}}, "x-kubernetes-preserve-unknown-fields": true},
		"note": {"type": "string", "nullable": true}}}`
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader([]byte(schema)))
	if err != nil {
		t.Fatal(err)
	}
	kubernetesDialect(doc)
	c := jsonschema.NewCompiler()
	if err := c.AddResource("dialect.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("dialect.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		doc string
		ok  bool
	}{
		{`{"port": 8080, "crdPort": 8080, "bare": 8080}`, true},
		{`{"port": "http", "crdPort": "http", "bare": "http"}`, true},
		{`{"port": 1.5}`, false},
		{`{"crdPort": true}`, false},
		{`{"bare": []}`, false},
		{`{"ports": [{"number": 1}]}`, true},
		{`{"ports": [{"numbr": 1}]}`, false},
		{`{"prot": 1}`, false},
		{`{"labels": {"any": "thing"}}`, true},
		{`{"raw": {"a": "x", "other": 1}}`, true},
		{`{"note": null}`, true},
		{`{"note": 1}`, false},
	} {
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader([]byte(tc.doc)))
		if err != nil {
			t.Fatal(err)
		}
		if err := sch.Validate(v); (err == nil) != tc.ok {
			t.Errorf("%s: valid %v, want %v (%v)", tc.doc, err == nil, tc.ok, err)
		}
	}
}
