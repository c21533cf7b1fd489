package server

import (
	"encoding/json"
	"strings"

	"github.com/decilm/decilm/engine"
	"github.com/decilm/decilm/grammar"
)

// extra are the request options beyond sampling that every choice shares.
type extra struct {
	minTokens int
	grammar   *grammar.Grammar
}

// extras validates min_tokens, stop_token_ids and the structured-output fields
// (response_format, grammar, json_schema: at most one of them) and compiles the grammar.
func (s *Server) extras(p *params, e *engine.Engine) (extra, error) {
	var x extra
	if p.MinTokens != nil {
		if *p.MinTokens < 0 {
			return x, badRequest("min_tokens", "min_tokens is %d; it must not be negative", *p.MinTokens)
		}
		x.minTokens = *p.MinTokens
	}
	vocab := e.Model().Net.Config.Vocab
	for i, id := range p.StopTokenIDs {
		if id < 0 || id >= vocab {
			return x, badRequest("stop_token_ids", "stop_token_ids[%d] is %d, outside the vocabulary [0,%d)", i, id, vocab)
		}
	}
	var set []string
	var err error
	if given(p.ResponseFormat) {
		var rf struct {
			Type       string `json:"type"`
			JSONSchema *struct {
				Name   string          `json:"name"`
				Schema json.RawMessage `json:"schema"`
				Strict *bool           `json:"strict"`
			} `json:"json_schema"`
			Schema json.RawMessage `json:"schema"` // llama-server's json_object with a schema
		}
		if err := json.Unmarshal(p.ResponseFormat, &rf); err != nil {
			return x, badRequest("response_format", "response_format: %v", err)
		}
		switch rf.Type {
		case "text", "":
		case "json_object":
			set = append(set, "response_format")
			if given(rf.Schema) {
				x.grammar, err = grammar.FromJSONSchema(rf.Schema)
			} else {
				x.grammar = grammar.JSONObject()
			}
		case "json_schema":
			set = append(set, "response_format")
			if rf.JSONSchema == nil || !given(rf.JSONSchema.Schema) {
				return x, badRequest("response_format", "response_format of type json_schema needs json_schema.schema")
			}
			x.grammar, err = grammar.FromJSONSchema(rf.JSONSchema.Schema)
		default:
			return x, badRequest("response_format", "response_format type %q is not text, json_object or json_schema", rf.Type)
		}
		if err != nil {
			return x, badRequest("response_format", "response_format: %v", err)
		}
	}
	if p.Grammar != nil && *p.Grammar != "" {
		set = append(set, "grammar")
		if x.grammar, err = grammar.ParseGBNF(*p.Grammar, "root"); err != nil {
			return x, badRequest("grammar", "%v", err)
		}
	}
	if given(p.JSONSchema) {
		set = append(set, "json_schema")
		if x.grammar, err = grammar.FromJSONSchema(p.JSONSchema); err != nil {
			return x, badRequest("json_schema", "%v", err)
		}
	}
	if len(set) > 1 {
		return x, badRequest(set[1], "send only one of %s", strings.Join(set, ", "))
	}
	return x, nil
}
