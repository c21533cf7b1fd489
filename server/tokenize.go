package server

import (
	"encoding/json"
	"net/http"
	"unicode/utf8"

	"github.com/decilm/decilm/engine"
)

// routes registers llama-server's utility endpoints.
func (s *Server) routes() {
	s.mux.HandleFunc("POST /tokenize", s.api("tokenize", s.handleTokenize))
	s.mux.HandleFunc("POST /detokenize", s.api("detokenize", s.handleDetokenize))
	s.mux.HandleFunc("POST /apply-template", s.api("apply-template", s.handleApplyTemplate))
	s.mux.HandleFunc("POST /v1/embeddings", s.api("embeddings", s.handleEmbeddings))
}

// handleTokenize is llama-server's POST /tokenize: {"content", "add_special",
// "with_pieces"} → {"tokens": [ids]} or, with pieces, [{"id", "piece"}] where a piece that
// is not valid UTF-8 is a list of its bytes. Special tokens written in the text are
// recognised, as llama-server does.
func (s *Server) handleTokenize(w http.ResponseWriter, r *http.Request, e *engine.Engine) error {
	var req struct {
		Content    *string `json:"content"`
		AddSpecial bool    `json:"add_special"`
		WithPieces bool    `json:"with_pieces"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if req.Content == nil {
		return badRequest("content", "content is missing: send the text to tokenize")
	}
	if err := s.textFits(e, len(*req.Content)); err != nil {
		return err
	}
	t := e.Model().Tokenizer
	o := t.DefaultOptions()
	o.ParseSpecial = true
	o.AddBOS = req.AddSpecial && t.BOS() >= 0
	o.AddEOS = req.AddSpecial && t.AddEOS()
	ids := t.Encode(*req.Content, o)
	if !req.WithPieces {
		if ids == nil {
			ids = []int{}
		}
		writeJSON(w, map[string]any{"tokens": ids})
		return nil
	}
	type piece struct {
		ID    int `json:"id"`
		Piece any `json:"piece"`
	}
	out := make([]piece, len(ids))
	for i, id := range ids {
		p := t.TokenText(id)
		if t.IsSpecial(id) {
			p = t.Piece(id)
		}
		out[i] = piece{ID: id, Piece: p}
		if !utf8.ValidString(p) {
			out[i].Piece = tokenBytes(p)
		}
	}
	writeJSON(w, map[string]any{"tokens": out})
	return nil
}

// handleDetokenize is llama-server's POST /detokenize: {"tokens": [ids]} → {"content"}.
func (s *Server) handleDetokenize(w http.ResponseWriter, r *http.Request, e *engine.Engine) error {
	var req struct {
		Tokens []int `json:"tokens"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	t := e.Model().Tokenizer
	for i, id := range req.Tokens {
		if id < 0 || id >= t.VocabSize() {
			return badRequest("tokens", "tokens[%d] is %d, outside the vocabulary [0,%d)", i, id, t.VocabSize())
		}
	}
	text, err := t.Decode(req.Tokens)
	if err != nil {
		return badRequest("tokens", "%v", err)
	}
	writeJSON(w, map[string]any{"content": text})
	return nil
}

// handleApplyTemplate is llama-server's POST /apply-template: {"messages", "tools"} →
// {"prompt"}, the text the chat template makes of them (with the assistant's cue at the
// end), the prompt /v1/chat/completions would generate from. tools and tool_choice are
// checked as the chat endpoint checks them.
func (s *Server) handleApplyTemplate(w http.ResponseWriter, r *http.Request, e *engine.Engine) error {
	var req struct {
		Messages []chatMessage `json:"messages"`
		params
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	msgs, err := s.chatMessages(e, req.Messages)
	if err != nil {
		return err
	}
	ts, err := templateTools(&req.params, e)
	if err != nil {
		return err
	}
	var tools []json.RawMessage
	if ts != nil {
		tools = ts.raw
	}
	text, err := s.render(e, msgs, tools)
	if err != nil {
		return err
	}
	writeJSON(w, map[string]any{"prompt": text})
	return nil
}
