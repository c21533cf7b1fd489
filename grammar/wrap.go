package grammar

import (
	"fmt"
	"slices"
)

// Wrap returns the grammar of the text prefix, then a sentence of g, then the text
// suffix: for instance a JSON schema's grammar inside a tool-call tag
// ("<tool_call>\n" ... "\n</tool_call>"). g is not changed.
func Wrap(prefix string, g *Grammar, suffix string) *Grammar {
	w := &Grammar{
		elems: slices.Clip(slices.Clone(g.elems)),
		alts:  slices.Clone(g.alts),
		names: slices.Clone(g.names),
	}
	start := len(w.elems)
	for _, r := range prefix {
		w.elems = append(w.elems, elem{kind: kChar, ranges: []rune{r, r}})
	}
	w.elems = append(w.elems, elem{kind: kRule, rule: g.root})
	for _, r := range suffix {
		w.elems = append(w.elems, elem{kind: kChar, ranges: []rune{r, r}})
	}
	w.elems = append(w.elems, elem{kind: kEnd})
	w.root = len(w.alts)
	w.alts = append(w.alts, []int{start})
	w.names = append(w.names, fmt.Sprintf("wrap-%d", w.root))
	w.key = w.names[w.root] + "\n" + w.String()
	return w
}
