package server

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/decilm/decilm/engine"
	"github.com/decilm/decilm/tokenizer"
)

// bodyAllowance is what a request body may hold beyond its prompt text: the JSON around
// it, sampling fields, a grammar or JSON schema.
const bodyAllowance = 256 << 10

// bodyLimit is the largest body a request to e may send: Options.MaxBodyBytes, and no
// more than what the model's context can hold (context length × longest token × 6, for
// JSON escapes such as \u00e9, plus bodyAllowance), so a body far beyond any prompt the
// model could take is refused before it is read.
func (s *Server) bodyLimit(e *engine.Engine) int64 {
	return min(s.opt.MaxBodyBytes, int64(e.ContextLength())*int64(s.longestToken(e))*6+bodyAllowance)
}

// longestToken is the most bytes one token of e's vocabulary decodes to (at least 1).
func (s *Server) longestToken(e *engine.Engine) int {
	if v := s.maxPiece.Load(); v > 0 {
		return int(v)
	}
	t := e.Model().Tokenizer
	n := 1
	for id := 0; id < t.VocabSize(); id++ {
		n = max(n, len(t.TokenText(id)))
	}
	s.maxPiece.Store(int64(n))
	return n
}

// textFits reports whether a text of n bytes may fit e's context: a token covers at most
// longestToken bytes, so a longer text needs more tokens than the context holds. It spares
// tokenizing text that cannot fit.
func (s *Server) textFits(e *engine.Engine, n int) error {
	ctxL := e.ContextLength()
	if n > ctxL*s.longestToken(e) {
		return &apiError{status: http.StatusBadRequest, typ: "invalid_request_error", code: "context_length_exceeded", param: "messages",
			msg: fmt.Sprintf("This model's maximum context length is %d tokens. However, the prompt's %d bytes take more than %d tokens. Please reduce the length of the prompt.",
				ctxL, n, ctxL)}
	}
	return nil
}

// readBody checks a POST's Content-Type and reads its body whole, within the body limit
// and Options.ReadTimeout; r.Body then reads from memory.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, e *engine.Engine) error {
	ct := r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
		return &apiError{status: http.StatusUnsupportedMediaType, typ: "invalid_request_error", code: "unsupported_media_type",
			msg: fmt.Sprintf("Content-Type is %q; send the body as application/json (curl: -H 'Content-Type: application/json')", ct)}
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(s.opt.ReadTimeout))
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.bodyLimit(e)))
	if err != nil {
		// Close the connection after the answer: the server must not wait for the rest of
		// a body that is too slow or too large.
		w.Header().Set("Connection", "close")
		return err
	}
	_ = rc.SetReadDeadline(time.Time{})
	r.Body = io.NopCloser(bytes.NewReader(b))
	return nil
}

// offsets computes OpenAI's text_offset: the character (not byte) offset of each token in
// the text, where a character completed by a later token counts from that token on.
type offsets struct {
	t       *tokenizer.Tokenizer
	chars   int
	pending []byte
	strip   bool // the next token's leading space is the dummy prefix: not in the text
}

// next returns the offset of token id and moves past it.
func (o *offsets) next(id int) int {
	at := o.chars
	b := o.t.TokenText(id)
	if ty := o.t.Type(id); ty == tokenizer.Control || ty == tokenizer.Unknown {
		b = "" // BOS, EOS and the like are not part of the text
	}
	if o.strip && b != "" {
		if b[0] == ' ' {
			b = b[1:]
		}
		o.strip = false
	}
	o.pending = append(o.pending, b...)
	for len(o.pending) > 0 {
		r, size := utf8.DecodeRune(o.pending)
		if r == utf8.RuneError && size <= 1 && !utf8.FullRune(o.pending) {
			break // an incomplete character: wait for its next bytes
		}
		o.chars++
		o.pending = o.pending[size:]
	}
	return at
}
