package finetune

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/decilm/decilm/chat"
	"github.com/decilm/decilm/tokenizer"
)

// Formats of training data, one JSON object a line.
const (
	// FormatOrca rows are a system prompt, a question and the response to learn:
	// OpenOrca's columns {"system_prompt", "question", "response"}, or the preference-pair
	// layout {"input": {"messages": [system, user]}, "preferred_output": [{"role":
	// "assistant", "content": ...}]}. The loss counts the response's tokens only.
	FormatOrca = "orca"
	// FormatChat rows are {"messages": [...]}; the loss counts every assistant turn.
	FormatChat = "chat"
	// FormatText rows are {"text": ...}; the loss counts every token.
	FormatText = "text"
)

// Formats lists the accepted data formats.
var Formats = []string{FormatOrca, FormatChat, FormatText}

// DataOptions say how rows become examples.
type DataOptions struct {
	// Format is FormatOrca, FormatChat or FormatText.
	Format string
	// Template renders the conversations of the orca and chat formats (the model's own
	// instruct template).
	Template chat.Template
	// SeqLen is the most tokens an example may have; longer rows are left out (and
	// counted in DataStats.TooLong), never cut, so that no response loses its end.
	SeqLen int
	// MaxRows bounds the rows read (0: 1,000,000); MaxLineBytes bounds one line (0: 16 MiB).
	MaxRows, MaxLineBytes int
}

// DataStats count what ReadData did with the rows.
type DataStats struct {
	Rows       int // non-empty lines read
	Kept       int // examples made
	TooLong    int // rows left out for having more than SeqLen tokens
	NoLoss     int // rows left out for having no token to learn (an empty response)
	Tokens     int // tokens of the kept examples
	LossTokens int // of which counted in the loss
	// Reboundaried counts response boundaries where the tokens of the text before the
	// boundary are not a prefix of the whole row's tokens (the tokenizer merged across
	// it); there the token that straddles the boundary counts as part of the response.
	Reboundaried int
}

// ReadDataFile reads the training file at path; see ReadData.
func ReadDataFile(path string, tok *tokenizer.Tokenizer, o DataOptions) ([]Example, DataStats, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, DataStats{}, err
	}
	defer f.Close()
	return ReadData(f, path, tok, o)
}

// ReadData reads JSON lines from r (name is used in errors, which give file:line) and
// turns each row into an Example: the row's text rendered through o.Template (orca, chat)
// or taken as it is (text), tokenized with special tokens recognised in the template's
// text, BOS first as the tokenizer's configuration says unless the text already starts
// with it, and EOS last after a final response or text (counted in the loss, so that the
// model learns to stop). Blank lines are skipped; unknown fields are ignored.
func ReadData(r io.Reader, name string, tok *tokenizer.Tokenizer, o DataOptions) ([]Example, DataStats, error) {
	var st DataStats
	if !slices.Contains(Formats, o.Format) {
		return nil, st, fmt.Errorf("%s: unknown data format %q; want %s", name, o.Format, strings.Join(Formats, ", "))
	}
	if o.Format != FormatText && o.Template == nil {
		return nil, st, fmt.Errorf("%s: format %s needs a chat template", name, o.Format)
	}
	if o.SeqLen < 2 {
		return nil, st, fmt.Errorf("%s: sequence length %d is below 2", name, o.SeqLen)
	}
	maxRows, maxLine := o.MaxRows, o.MaxLineBytes
	if maxRows <= 0 {
		maxRows = 1_000_000
	}
	if maxLine <= 0 {
		maxLine = 16 << 20
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, min(64<<10, maxLine)), maxLine)
	var out []Example
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		st.Rows++
		if st.Rows > maxRows {
			return nil, st, fmt.Errorf("%s:%d: more than %d rows", name, line, maxRows)
		}
		ex, reb, err := encodeRow(b, tok, o)
		if err != nil {
			return nil, st, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		st.Reboundaried += reb
		n := 0
		for _, c := range ex.Loss {
			if c {
				n++
			}
		}
		switch {
		case n == 0:
			st.NoLoss++
		case len(ex.Tokens) > o.SeqLen:
			st.TooLong++
		default:
			st.Kept++
			st.Tokens += len(ex.Tokens)
			st.LossTokens += n
			out = append(out, ex)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, st, fmt.Errorf("%s:%d: line longer than %d bytes", name, line+1, maxLine)
		}
		return nil, st, fmt.Errorf("%s: %w", name, err)
	}
	return out, st, nil
}

// row holds every field the formats read.
type row struct {
	Text         *string        `json:"text"`
	Messages     []chat.Message `json:"messages"`
	SystemPrompt *string        `json:"system_prompt"`
	Question     *string        `json:"question"`
	Response     *string        `json:"response"`
	Input        *struct {
		Messages []chat.Message `json:"messages"`
	} `json:"input"`
	PreferredOutput []chat.Message `json:"preferred_output"`
}

// ParseRow decodes one line of data in format into the conversation it holds (orca, chat)
// or its text (text).
func ParseRow(line []byte, format string) (msgs []chat.Message, text string, err error) {
	var r row
	if err := json.Unmarshal(line, &r); err != nil {
		return nil, "", fmt.Errorf("bad JSON: %v", err)
	}
	switch format {
	case FormatText:
		if r.Text == nil {
			return nil, "", errors.New(`format text: no "text" field`)
		}
		return nil, *r.Text, nil
	case FormatChat:
		if len(r.Messages) == 0 {
			return nil, "", errors.New(`format chat: no "messages"`)
		}
		msgs = r.Messages
	case FormatOrca:
		switch {
		case r.Question != nil || r.Response != nil:
			if r.Question == nil || r.Response == nil {
				return nil, "", errors.New(`format orca: a row with "question" or "response" needs both`)
			}
			if r.SystemPrompt != nil && *r.SystemPrompt != "" {
				msgs = append(msgs, chat.Message{Role: chat.RoleSystem, Content: *r.SystemPrompt})
			}
			msgs = append(msgs, chat.Message{Role: chat.RoleUser, Content: *r.Question}, chat.Message{Role: chat.RoleAssistant, Content: *r.Response})
		case r.Input != nil:
			if len(r.PreferredOutput) != 1 {
				return nil, "", fmt.Errorf(`format orca: "preferred_output" has %d messages; want 1`, len(r.PreferredOutput))
			}
			for i, m := range r.Input.Messages {
				if m.Role != chat.RoleSystem && m.Role != chat.RoleUser {
					return nil, "", fmt.Errorf(`format orca: "input.messages"[%d] has role %q; want system or user`, i, m.Role)
				}
			}
			if len(r.Input.Messages) == 0 {
				return nil, "", errors.New(`format orca: "input.messages" is empty`)
			}
			msgs = append(slices.Clip(r.Input.Messages), r.PreferredOutput[0])
		default:
			return nil, "", errors.New(`format orca: want "system_prompt", "question" and "response", or "input" and "preferred_output"`)
		}
	default:
		return nil, "", fmt.Errorf("unknown data format %q", format)
	}
	last := msgs[len(msgs)-1]
	if format == FormatOrca && last.Role != chat.RoleAssistant {
		return nil, "", fmt.Errorf("format orca: the response has role %q; want assistant", last.Role)
	}
	if !slices.ContainsFunc(msgs, func(m chat.Message) bool { return m.Role == chat.RoleAssistant }) {
		return nil, "", fmt.Errorf("format %s: no assistant message to learn", format)
	}
	return msgs, "", nil
}

// encodeRow turns one line into an Example, and counts the response boundaries that did
// not tokenize as a prefix.
func encodeRow(line []byte, tok *tokenizer.Tokenizer, o DataOptions) (Example, int, error) {
	msgs, text, err := ParseRow(line, o.Format)
	if err != nil {
		return Example{}, 0, err
	}
	if o.Format == FormatText {
		ids := tok.Encode(text, tok.DefaultOptions())
		if eos := tok.EOS(); eos >= 0 && !slices.Contains(tok.StopIDs(), lastOr(ids)) {
			ids = append(ids, eos)
		}
		ex := Example{Tokens: ids, Loss: make([]bool, max(len(ids)-1, 0))}
		for i := range ex.Loss {
			ex.Loss[i] = true
		}
		return ex, 0, nil
	}
	return encodeChat(msgs, tok, o.Template)
}

func lastOr(ids []int) int {
	if len(ids) == 0 {
		return -1
	}
	return ids[len(ids)-1]
}

// encodeChat renders msgs and marks the tokens of each assistant turn. The text of turn i
// runs from the end of the render of msgs[:i] with the generation prompt to the end of the
// render of msgs[:i+1]; each must be a prefix of the next and of the whole text. A
// boundary's token index is the length of the tokens of the text before it when those are
// a prefix of the whole text's tokens; when the tokenizer merged across the boundary, it
// is where the two token lists part, and the token straddling it counts as response.
func encodeChat(msgs []chat.Message, tok *tokenizer.Tokenizer, tmpl chat.Template) (Example, int, error) {
	full, err := chat.Render(tmpl, msgs, chat.Options{})
	if err != nil {
		return Example{}, 0, err
	}
	o := tok.DefaultOptions()
	o.ParseSpecial = true
	o.AddEOS = false
	if bos := tok.BOS(); bos >= 0 && strings.HasPrefix(full, tok.Piece(bos)) {
		o.AddBOS = false
	}
	ids := tok.Encode(full, o)
	final := msgs[len(msgs)-1].Role == chat.RoleAssistant
	if eos := tok.EOS(); final && eos >= 0 && !slices.Contains(tok.StopIDs(), lastOr(ids)) {
		ids = append(ids, eos)
	}
	counted := make([]bool, len(ids)) // counted[k]: token k is predicted in the loss
	reb := 0
	// boundary returns the token index of byte offset b of full; straddle says whether a
	// token crossing it belongs to the span that ends there.
	boundary := func(b int, straddle bool) int {
		pre := tok.Encode(full[:b], o)
		n := 0
		for n < len(pre) && n < len(ids) && pre[n] == ids[n] {
			n++
		}
		if n == len(pre) {
			return n
		}
		reb++
		if straddle {
			return min(n+1, len(ids))
		}
		return n
	}
	for i, m := range msgs {
		if m.Role != chat.RoleAssistant {
			continue
		}
		pre, err := chat.Render(tmpl, msgs[:i], chat.Options{AddGenerationPrompt: true})
		if err != nil {
			return Example{}, 0, err
		}
		upto, err := chat.Render(tmpl, msgs[:i+1], chat.Options{})
		if err != nil {
			return Example{}, 0, err
		}
		if !strings.HasPrefix(upto, pre) || !strings.HasPrefix(full, upto) {
			return Example{}, 0, fmt.Errorf("template %s does not render message %d as a continuation of the ones before it, so its response tokens cannot be found", tmpl.Name(), i)
		}
		start, end := boundary(len(pre), false), len(ids)
		if i < len(msgs)-1 {
			end = boundary(len(upto), true)
		}
		for k := max(start, 1); k < end; k++ {
			counted[k] = true
		}
	}
	ex := Example{Tokens: ids, Loss: make([]bool, max(len(ids)-1, 0))}
	for k := 1; k < len(ids); k++ {
		ex.Loss[k-1] = counted[k]
	}
	return ex, reb, nil
}
