package eval

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Kind is how a task turns an item into log-likelihood requests.
type Kind int

const (
	// MultipleChoice scores each choice, " " + choice, after one shared context.
	MultipleChoice Kind = iota
	// MultipleInput scores one shared continuation, " " + target, after one context per
	// choice (Winogrande's partial scoring).
	MultipleInput
	// Loglikelihood scores one continuation after one context; acc is whether greedy
	// decoding would produce it (LAMBADA).
	Loglikelihood
)

// Item is one evaluation document after the task's preprocessing, in the terms of
// lm-evaluation-harness: Query is doc_to_text, Choices doc_to_choice, Gold the index of
// the correct choice, Target doc_to_target for Loglikelihood and MultipleInput tasks.
type Item struct {
	// Query is the prompt (without few-shot examples); unused by MultipleInput tasks.
	Query string `json:"query,omitempty"`
	// Choices are the answers (MultipleChoice) or the contexts (MultipleInput), without
	// the target delimiter.
	Choices []string `json:"choices,omitempty"`
	// Target is the continuation of a Loglikelihood task, with its leading space
	// (LAMBADA: " word"), or the shared continuation of a MultipleInput task, without it.
	Target string `json:"target,omitempty"`
	// Gold is the index of the correct choice.
	Gold int `json:"gold"`
	// Labels marks each choice true (1) or false (0); only TruthfulQA mc2 uses it.
	Labels []int `json:"labels,omitempty"`
}

// Task is one evaluation task: how to find and read its data, how to build its requests
// and which metrics it reports. Tasks come from Lookup; Items (and Train, for few-shot)
// are filled by Load, or set directly by a caller that brings its own items.
type Task struct {
	// Name is the lm-evaluation-harness task name, e.g. "arc_easy".
	Name string
	// Title is the column heading in the report, e.g. "ARC Easy".
	Title string
	// Datasets are the Hugging Face dataset ids the task reads, the first the harness's.
	Datasets []string
	// Config is the dataset config (subset) folder, e.g. "ARC-Easy"; OtherConfigs are the
	// dataset's other configs, whose folders Locate avoids.
	Config       string
	OtherConfigs []string
	// Keyword must appear in a data path found directly under the data folder.
	Keyword string
	// EvalSplit is the split scored; TrainSplit the few-shot pool ("" when the harness
	// has none).
	EvalSplit, TrainSplit string
	// FixtureFile is the local importer's file name (decilm's shared fixtures), holding
	// FixtureSplit.
	FixtureFile, FixtureSplit string
	// Kind selects how requests are built.
	Kind Kind
	// Metrics lists the metrics reported, in order; Headline is the one the model card's
	// table shows.
	Metrics  []string
	Headline string
	// MC2 makes "acc" TruthfulQA's mc2: the normalised probability of the true answers.
	MC2 bool
	// excludeEval mirrors the harness's sampler for tasks without a test split: it draws
	// k+1 few-shot documents and drops the evaluated one.
	excludeEval bool
	// fromRow turns one data row (either schema the task accepts) into an Item.
	fromRow func(Row) (Item, error)

	// Items are the evaluation items, in data order.
	Items []Item
	// Train is the few-shot pool (the training split), when loaded.
	Train []Item
	// Source names the files Items were read from.
	Source string
}

// CardTasks are the nine tasks of the DeciLM-6B model card's table, in its order; the
// card's TruthfulQA number is mc2 (as on the Open LLM Leaderboard).
var CardTasks = []string{"arc_challenge", "arc_easy", "boolq", "hellaswag", "lambada_openai",
	"openbookqa", "piqa", "truthfulqa_mc2", "winogrande"}

// TaskNames lists every task Lookup knows.
func TaskNames() []string {
	return []string{"arc_challenge", "arc_easy", "boolq", "hellaswag", "lambada_openai",
		"openbookqa", "piqa", "truthfulqa_mc1", "truthfulqa_mc2", "winogrande"}
}

// ParseTaskList splits a comma-separated --tasks value into task names, expanding "card"
// to CardTasks and dropping duplicates; an unknown name is an error listing the known ones.
func ParseTaskList(list string) ([]string, error) {
	var out []string
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		names := []string{f}
		if f == "card" {
			names = CardTasks
		} else if _, err := Lookup(f); err != nil {
			return nil, err
		}
		for _, n := range names {
			if !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no tasks given (known: card, %s)", strings.Join(TaskNames(), ", "))
	}
	return out, nil
}

// Lookup returns a new, empty Task by its lm-evaluation-harness name.
func Lookup(name string) (*Task, error) {
	arc := func(name, title, config, other string) *Task {
		return &Task{Name: name, Title: title, Datasets: []string{"allenai/ai2_arc", "ai2_arc"},
			Config: config, OtherConfigs: []string{other}, Keyword: "arc",
			EvalSplit: "test", TrainSplit: "train", FixtureFile: name + ".jsonl", FixtureSplit: "test",
			Kind: MultipleChoice, Metrics: []string{"acc", "acc_norm"}, Headline: "acc_norm", fromRow: arcItem}
	}
	switch name {
	case "arc_challenge":
		return arc(name, "ARC Challenge", "ARC-Challenge", "ARC-Easy"), nil
	case "arc_easy":
		return arc(name, "ARC Easy", "ARC-Easy", "ARC-Challenge"), nil
	case "boolq":
		return &Task{Name: name, Title: "BoolQ", Datasets: []string{"aps/super_glue", "super_glue", "google/boolq"},
			Config: "boolq", OtherConfigs: []string{"cb", "copa", "multirc", "record", "rte", "wic", "wsc", "wsc.fixed", "axb", "axg"},
			Keyword: "boolq", EvalSplit: "validation", TrainSplit: "train", FixtureFile: "boolq.jsonl", FixtureSplit: "validation",
			Kind: MultipleChoice, Metrics: []string{"acc"}, Headline: "acc", excludeEval: true, fromRow: boolqItem}, nil
	case "hellaswag":
		return &Task{Name: name, Title: "HellaSwag", Datasets: []string{"Rowan/hellaswag", "hellaswag"},
			Keyword: "hellaswag", EvalSplit: "validation", TrainSplit: "train",
			FixtureFile: "hellaswag_val_full.txt.bz2", FixtureSplit: "validation",
			Kind: MultipleChoice, Metrics: []string{"acc", "acc_norm"}, Headline: "acc_norm", excludeEval: true, fromRow: hellaswagItem}, nil
	case "lambada_openai":
		return &Task{Name: name, Title: "LAMBADA OpenAI", Datasets: []string{"EleutherAI/lambada_openai", "lambada_openai"},
			Config: "default", OtherConfigs: []string{"de", "es", "fr", "it"}, Keyword: "lambada", EvalSplit: "test",
			FixtureFile: "lambada_openai.jsonl", FixtureSplit: "test",
			Kind: Loglikelihood, Metrics: []string{"perplexity", "acc"}, Headline: "acc", fromRow: lambadaItem}, nil
	case "openbookqa":
		return &Task{Name: name, Title: "OpenBookQA", Datasets: []string{"allenai/openbookqa", "openbookqa"},
			Config: "main", OtherConfigs: []string{"additional"}, Keyword: "openbookqa", EvalSplit: "test", TrainSplit: "train",
			FixtureFile: "openbookqa.jsonl", FixtureSplit: "test",
			Kind: MultipleChoice, Metrics: []string{"acc", "acc_norm"}, Headline: "acc", fromRow: openbookqaItem}, nil
	case "piqa":
		return &Task{Name: name, Title: "PIQA", Datasets: []string{"baber/piqa", "ybisk/piqa", "piqa"},
			Keyword: "piqa", EvalSplit: "validation", TrainSplit: "train", FixtureFile: "piqa.jsonl", FixtureSplit: "validation",
			Kind: MultipleChoice, Metrics: []string{"acc", "acc_norm"}, Headline: "acc", excludeEval: true, fromRow: piqaItem}, nil
	case "truthfulqa_mc1", "truthfulqa_mc2":
		t := &Task{Name: name, Title: "TruthfulQA (mc1)", Datasets: []string{"truthfulqa/truthful_qa", "truthful_qa"},
			Config: "multiple_choice", OtherConfigs: []string{"generation"}, Keyword: "truthful", EvalSplit: "validation",
			FixtureFile: "truthfulqa_mc_task.json", FixtureSplit: "validation",
			Kind: MultipleChoice, Metrics: []string{"acc"}, Headline: "acc", fromRow: truthfulqaMC1Item}
		if name == "truthfulqa_mc2" {
			t.Title, t.MC2, t.fromRow = "TruthfulQA (mc2)", true, truthfulqaMC2Item
		}
		return t, nil
	case "winogrande":
		return &Task{Name: name, Title: "Winogrande", Datasets: []string{"allenai/winogrande", "winogrande"},
			Config: "winogrande_xl", OtherConfigs: []string{"winogrande_xs", "winogrande_s", "winogrande_m", "winogrande_l", "winogrande_debiased"},
			Keyword: "winogrande", EvalSplit: "validation", TrainSplit: "train", FixtureFile: "winogrande.jsonl", FixtureSplit: "validation",
			Kind: MultipleInput, Metrics: []string{"acc"}, Headline: "acc", excludeEval: true, fromRow: winograndeItem}, nil
	}
	return nil, fmt.Errorf("unknown task %q (known: card, %s)", name, strings.Join(TaskNames(), ", "))
}

// LoadOptions controls Load.
type LoadOptions struct {
	// Train also loads the training split, the few-shot pool; it is an error when the
	// task has none or its files are not found.
	Train bool
	// Limit, when positive, stops reading the evaluation split after that many items
	// (JSON lines and text files are read no further; parquet files are read whole).
	Limit int
}

// Load returns the named task with its evaluation items read from the data under dir
// (see Locate for the layouts recognised).
func Load(dir, name string, opts LoadOptions) (*Task, error) {
	t, err := Lookup(name)
	if err != nil {
		return nil, err
	}
	paths, err := Locate(dir, t, t.EvalSplit)
	if err != nil {
		return nil, err
	}
	if t.Items, err = t.readItems(paths, opts.Limit); err != nil {
		return nil, err
	}
	t.Source = strings.Join(paths, ",")
	if opts.Train {
		if t.TrainSplit == "" {
			return nil, fmt.Errorf("%s: few-shot needs a training split and the task has none (lm-evaluation-harness runs it 0-shot)", name)
		}
		paths, err := Locate(dir, t, t.TrainSplit)
		if err != nil {
			return nil, fmt.Errorf("few-shot: %w", err)
		}
		if t.Train, err = t.ReadItems(paths); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// ReadItems reads the rows of the given files (see ReadRows) and converts each with the
// task's schema; errors name the file and row.
func (t *Task) ReadItems(paths []string) ([]Item, error) { return t.readItems(paths, 0) }

func (t *Task) readItems(paths []string, limit int) ([]Item, error) {
	var items []Item
	for _, p := range paths {
		if limit > 0 && len(items) >= limit {
			break
		}
		rows, err := readRows(p, max(limit-len(items), 0))
		if err != nil {
			return nil, err
		}
		for i, r := range rows {
			if limit > 0 && len(items) == limit {
				break
			}
			it, err := t.ItemFromRow(r)
			if err != nil {
				return nil, fmt.Errorf("%s: row %d: %w", p, i+1, err)
			}
			items = append(items, it)
		}
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("%s: no items in %s", t.Name, strings.Join(paths, ", "))
	}
	return items, nil
}

// ItemFromRow converts one data row, in either the Hugging Face dataset's schema or the
// local fixture's, into an Item, checking that the gold index is in range.
func (t *Task) ItemFromRow(r Row) (Item, error) {
	if t.fromRow == nil {
		return Item{}, fmt.Errorf("%s: task has no row converter", t.Name)
	}
	it, err := t.fromRow(r)
	if err != nil {
		return Item{}, fmt.Errorf("%s: %w", t.Name, err)
	}
	if len(it.Choices) == 0 && t.Kind != Loglikelihood {
		return Item{}, fmt.Errorf("%s: no choices", t.Name)
	}
	if t.Kind != Loglikelihood && (it.Gold < 0 || it.Gold >= len(it.Choices)) {
		return Item{}, fmt.Errorf("%s: gold %d out of range for %d choices", t.Name, it.Gold, len(it.Choices))
	}
	if it.Labels != nil && len(it.Labels) != len(it.Choices) {
		return Item{}, fmt.Errorf("%s: %d labels for %d choices", t.Name, len(it.Labels), len(it.Choices))
	}
	return it, nil
}

// foundryItem reads llm-foundry's {"query","choices","gold"} rows.
func foundryItem(r Row) (query string, choices []string, gold int, err error) {
	if query, err = getString(r, "query"); err != nil {
		return
	}
	if choices, err = getStrings(r, "choices"); err != nil {
		return
	}
	gold, err = getInt(r, "gold")
	return
}

// labelledChoices reads the Hugging Face {text: [...], label: [...]} choices and the index
// of key among the labels.
func labelledChoices(r Row, key string) ([]string, int, error) {
	c, err := getRow(r, "choices")
	if err != nil {
		return nil, 0, err
	}
	text, err := getStrings(c, "text")
	if err != nil {
		return nil, 0, fmt.Errorf("choices: %w", err)
	}
	labels, err := getStrings(c, "label")
	if err != nil {
		return nil, 0, fmt.Errorf("choices: %w", err)
	}
	if len(text) != len(labels) {
		return nil, 0, fmt.Errorf("choices: %d texts but %d labels", len(text), len(labels))
	}
	i := slices.Index(labels, key)
	if i < 0 {
		return nil, 0, fmt.Errorf("answerKey %q is not among the labels %q", key, labels)
	}
	return text, i, nil
}

// arcItem: "Question: {{question}}\nAnswer:", choices.text, choices.label.index(answerKey).
// llm-foundry's query already carries "Question: ".
func arcItem(r Row) (Item, error) {
	if has(r, "query") {
		q, c, g, err := foundryItem(r)
		return Item{Query: q + "\nAnswer:", Choices: c, Gold: g}, err
	}
	q, err := getString(r, "question")
	if err != nil {
		return Item{}, err
	}
	key, err := getString(r, "answerKey")
	if err != nil {
		return Item{}, err
	}
	text, gold, err := labelledChoices(r, key)
	return Item{Query: "Question: " + q + "\nAnswer:", Choices: text, Gold: gold}, err
}

// openbookqaItem: question_stem, choices.text, choices.label.index(answerKey.lstrip()).
func openbookqaItem(r Row) (Item, error) {
	if has(r, "query") {
		q, c, g, err := foundryItem(r)
		return Item{Query: q, Choices: c, Gold: g}, err
	}
	q, err := getString(r, "question_stem")
	if err != nil {
		return Item{}, err
	}
	key, err := getString(r, "answerKey")
	if err != nil {
		return Item{}, err
	}
	text, gold, err := labelledChoices(r, strings.TrimLeftFunc(key, pyIsSpace))
	return Item{Query: q, Choices: text, Gold: gold}, err
}

// boolqItem: "{{passage}}\nQuestion: {{question}}?\nAnswer:", choices no/yes, label.
// llm-foundry's query is "Passage: {passage}\nQuestion: {question}?"; google/boolq has
// a boolean answer instead of label.
func boolqItem(r Row) (Item, error) {
	choices := []string{"no", "yes"}
	if has(r, "query") {
		q, c, g, err := foundryItem(r)
		if err != nil {
			return Item{}, err
		}
		p, ok := strings.CutPrefix(q, "Passage: ")
		if !ok {
			return Item{}, fmt.Errorf("field \"query\": does not start with \"Passage: \"")
		}
		if !slices.Equal(c, choices) {
			return Item{}, fmt.Errorf("field \"choices\": want [no yes], have %q", c)
		}
		return Item{Query: p + "\nAnswer:", Choices: choices, Gold: g}, nil
	}
	p, err := getString(r, "passage")
	if err != nil {
		return Item{}, err
	}
	q, err := getString(r, "question")
	if err != nil {
		return Item{}, err
	}
	key := "label"
	if !has(r, "label") && has(r, "answer") {
		key = "answer"
	}
	g, err := getInt(r, key)
	if err != nil {
		return Item{}, err
	}
	return Item{Query: p + "\nQuestion: " + q + "?\nAnswer:", Choices: choices, Gold: g}, nil
}

var bracketRE = regexp.MustCompile(`\[.*?\]`)

// HellaSwagPreprocess is lm-evaluation-harness's hellaswag preprocess: strip, " [title]"
// becomes ". ", bracketed WikiHow artifacts are removed, then double spaces become single.
func HellaSwagPreprocess(s string) string {
	s = strings.TrimFunc(s, pyIsSpace)
	s = strings.ReplaceAll(s, " [title]", ". ")
	s = bracketRE.ReplaceAllString(s, "")
	return strings.ReplaceAll(s, "  ", " ")
}

// pyIsSpace is Python's str.isspace for one character, which strip() and rstrip() use:
// Unicode white space plus the separators U+001C to U+001F.
func pyIsSpace(r rune) bool { return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f) }

// pyCapitalize is Python's str.capitalize: the first character in title case, the rest
// in lower case, with CPython's full case mappings (ß → "Ss", İ → "i̇", ...). Python's
// final-sigma rule for lower-casing Greek is not reproduced.
func pyCapitalize(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	first, ok := pyTitleSpecial[r]
	if !ok {
		first = string(unicode.ToTitle(r))
	}
	var b strings.Builder
	b.WriteString(first)
	for _, c := range s[n:] {
		if c == 'İ' {
			b.WriteString("i\u0307")
		} else {
			b.WriteRune(unicode.ToLower(c))
		}
	}
	return b.String()
}

// pyTitleSpecial holds the characters whose title case in CPython 3.11 (str.capitalize)
// is not Go's unicode.ToTitle: SpecialCasing.txt's multi-character mappings. Generated by
// comparing chr(c).capitalize() with unicode.ToTitle over every code point.
var pyTitleSpecial = map[rune]string{
	0xdf:   "Ss",
	0x149:  "\u02bcN",
	0x1f0:  "J\u030c",
	0x390:  "\u0399\u0308\u0301",
	0x3b0:  "\u03a5\u0308\u0301",
	0x587:  "\u0535\u0582",
	0x1e96: "H\u0331",
	0x1e97: "T\u0308",
	0x1e98: "W\u030a",
	0x1e99: "Y\u030a",
	0x1e9a: "A\u02be",
	0x1f50: "\u03a5\u0313",
	0x1f52: "\u03a5\u0313\u0300",
	0x1f54: "\u03a5\u0313\u0301",
	0x1f56: "\u03a5\u0313\u0342",
	0x1fb2: "\u1fba\u0345",
	0x1fb4: "\u0386\u0345",
	0x1fb6: "\u0391\u0342",
	0x1fb7: "\u0391\u0342\u0345",
	0x1fc2: "\u1fca\u0345",
	0x1fc4: "\u0389\u0345",
	0x1fc6: "\u0397\u0342",
	0x1fc7: "\u0397\u0342\u0345",
	0x1fd2: "\u0399\u0308\u0300",
	0x1fd3: "\u0399\u0308\u0301",
	0x1fd6: "\u0399\u0342",
	0x1fd7: "\u0399\u0308\u0342",
	0x1fe2: "\u03a5\u0308\u0300",
	0x1fe3: "\u03a5\u0308\u0301",
	0x1fe4: "\u03a1\u0313",
	0x1fe6: "\u03a5\u0342",
	0x1fe7: "\u03a5\u0308\u0342",
	0x1ff2: "\u1ffa\u0345",
	0x1ff4: "\u038f\u0345",
	0x1ff6: "\u03a9\u0342",
	0x1ff7: "\u03a9\u0342\u0345",
	0xfb00: "Ff",
	0xfb01: "Fi",
	0xfb02: "Fl",
	0xfb03: "Ffi",
	0xfb04: "Ffl",
	0xfb05: "St",
	0xfb06: "St",
	0xfb13: "\u0544\u0576",
	0xfb14: "\u0544\u0565",
	0xfb15: "\u0544\u056b",
	0xfb16: "\u054e\u0576",
	0xfb17: "\u0544\u056d",
}

// hellaswagItem: query = preprocess(activity_label + ": " + ctx_a + " " + ctx_b.capitalize()),
// choices = preprocess(endings), gold = int(label). Rows already preprocessed (llama.cpp's
// text file, or query/choices/gold jsonl) are taken as they are.
func hellaswagItem(r Row) (Item, error) {
	if has(r, "query") {
		q, c, g, err := foundryItem(r)
		return Item{Query: q, Choices: c, Gold: g}, err
	}
	var f [3]string
	for i, k := range []string{"activity_label", "ctx_a", "ctx_b"} {
		s, err := getString(r, k)
		if err != nil {
			return Item{}, err
		}
		f[i] = s
	}
	endings, err := getStrings(r, "endings")
	if err != nil {
		return Item{}, err
	}
	g, err := getInt(r, "label")
	if err != nil {
		return Item{}, err
	}
	choices := make([]string, len(endings))
	for i, e := range endings {
		choices[i] = HellaSwagPreprocess(e)
	}
	return Item{Query: HellaSwagPreprocess(f[0] + ": " + f[1] + " " + pyCapitalize(f[2])), Choices: choices, Gold: g}, nil
}

// lambadaItem: context = the text up to its last space, target = " " + the last word
// (text.split(' ')); llm-foundry rows carry context and continuation (the last word).
func lambadaItem(r Row) (Item, error) {
	if has(r, "context") {
		c, err := getString(r, "context")
		if err != nil {
			return Item{}, err
		}
		w, err := getString(r, "continuation")
		if err != nil {
			return Item{}, err
		}
		return Item{Query: c, Target: " " + w}, nil
	}
	text, err := getString(r, "text")
	if err != nil {
		return Item{}, err
	}
	i := strings.LastIndexByte(text, ' ')
	if i < 0 {
		return Item{Query: "", Target: " " + text}, nil
	}
	return Item{Query: text[:i], Target: " " + text[i+1:]}, nil
}

// piqaItem: "Question: {{goal}}\nAnswer:", [sol1, sol2], label. llm-foundry's query is
// "Question: {goal}\n".
func piqaItem(r Row) (Item, error) {
	if has(r, "query") {
		q, c, g, err := foundryItem(r)
		if err != nil {
			return Item{}, err
		}
		goal, ok := strings.CutPrefix(q, "Question: ")
		if !ok || !strings.HasSuffix(goal, "\n") {
			return Item{}, fmt.Errorf("field \"query\": want \"Question: <goal>\\n\", have %q", q)
		}
		goal = strings.TrimSuffix(goal, "\n")
		return Item{Query: "Question: " + goal + "\nAnswer:", Choices: c, Gold: g}, nil
	}
	goal, err := getString(r, "goal")
	if err != nil {
		return Item{}, err
	}
	s1, err := getString(r, "sol1")
	if err != nil {
		return Item{}, err
	}
	s2, err := getString(r, "sol2")
	if err != nil {
		return Item{}, err
	}
	g, err := getInt(r, "label")
	if err != nil {
		return Item{}, err
	}
	return Item{Query: "Question: " + goal + "\nAnswer:", Choices: []string{s1, s2}, Gold: g}, nil
}

// TruthfulQAPreamble is the fixed six-question prompt of lm-evaluation-harness's
// truthfulqa_mc1/mc2; each item's prompt is the preamble + "\n\nQ: " + question + "\nA:".
const TruthfulQAPreamble = "Q: What is human life expectancy in the United States?\n" +
	"A: Human life expectancy in the United States is 78 years.\n\n" +
	"Q: Who was president of the United States in 1955?\n" +
	"A: Dwight D. Eisenhower was president of the United States in 1955.\n\n" +
	"Q: Which party did he belong to?\n" +
	"A: He belonged to the Republican Party.\n\n" +
	"Q: What is the square root of banana?\n" +
	"A: I have no comment.\n\n" +
	"Q: How does a telescope work?\n" +
	"A: Telescopes use lenses or mirrors to focus light and make objects appear closer.\n\n" +
	"Q: Where were the 1992 Olympics held?\n" +
	"A: The 1992 Olympics were held in Barcelona, Spain."

func truthfulqaItem(r Row, targets string) (Item, error) {
	q, err := getString(r, "question")
	if err != nil {
		return Item{}, err
	}
	t, err := getRow(r, targets)
	if err != nil {
		return Item{}, err
	}
	choices, err := getStrings(t, "choices")
	if err != nil {
		return Item{}, fmt.Errorf("%s: %w", targets, err)
	}
	labels, err := getInts(t, "labels")
	if err != nil {
		return Item{}, fmt.Errorf("%s: %w", targets, err)
	}
	if len(labels) != len(choices) {
		return Item{}, fmt.Errorf("%s: %d choices but %d labels", targets, len(choices), len(labels))
	}
	return Item{Query: TruthfulQAPreamble + "\n\nQ: " + q + "\nA:", Choices: choices, Gold: 0, Labels: labels}, nil
}

// truthfulqaMC1Item: the mc1 choices; the harness takes choice 0 as the answer.
func truthfulqaMC1Item(r Row) (Item, error) {
	it, err := truthfulqaItem(r, "mc1_targets")
	it.Labels = nil
	return it, err
}

// truthfulqaMC2Item: the mc2 choices and their labels.
func truthfulqaMC2Item(r Row) (Item, error) {
	return truthfulqaItem(r, "mc2_targets")
}

// winograndeItem: the sentence is cut at its first "_": the two contexts are the part
// before it + option1/option2, the shared target the stripped rest; gold = answer - 1.
// llm-foundry rows carry context_options, continuation and gold.
func winograndeItem(r Row) (Item, error) {
	if has(r, "context_options") {
		c, err := getStrings(r, "context_options")
		if err != nil {
			return Item{}, err
		}
		cont, err := getString(r, "continuation")
		if err != nil {
			return Item{}, err
		}
		g, err := getInt(r, "gold")
		return Item{Choices: c, Target: cont, Gold: g}, err
	}
	s, err := getString(r, "sentence")
	if err != nil {
		return Item{}, err
	}
	i := strings.IndexByte(s, '_')
	if i < 0 {
		return Item{}, fmt.Errorf("field \"sentence\": no \"_\" blank in %q", s)
	}
	o1, err := getString(r, "option1")
	if err != nil {
		return Item{}, err
	}
	o2, err := getString(r, "option2")
	if err != nil {
		return Item{}, err
	}
	a, err := getString(r, "answer")
	if err != nil {
		return Item{}, err
	}
	gold := map[string]int{"1": 0, "2": 1}
	g, ok := gold[a]
	if !ok {
		return Item{}, fmt.Errorf("field \"answer\": want \"1\" or \"2\", have %q (the test split has no answers)", a)
	}
	return Item{Choices: []string{s[:i] + o1, s[:i] + o2}, Target: strings.TrimFunc(s[i+1:], pyIsSpace), Gold: g}, nil
}

// Request is one (context, continuation) string pair whose log-likelihood is scored, as
// lm-evaluation-harness's loglikelihood requests.
type Request struct {
	// Context is the prompt; Continuation the text whose log-likelihood is scored,
	// usually with a leading space.
	Context, Continuation string
}

const (
	targetDelimiter  = " "
	fewshotDelimiter = "\n\n"
)

// shot renders a few-shot example: question, target delimiter, answer, few-shot delimiter.
func (t *Task) shot(it *Item) string {
	switch t.Kind {
	case MultipleInput:
		return it.Choices[it.Gold] + targetDelimiter + it.Target + fewshotDelimiter
	case Loglikelihood:
		return it.Query + targetDelimiter + it.Target + fewshotDelimiter
	}
	return it.Query + targetDelimiter + it.Choices[it.Gold] + fewshotDelimiter
}

// Requests returns the item's requests, one per choice (one for Loglikelihood tasks),
// after the few-shot examples shots, exactly as lm-evaluation-harness builds them.
func (t *Task) Requests(it *Item, shots []*Item) []Request {
	var prefix strings.Builder
	for _, s := range shots {
		prefix.WriteString(t.shot(s))
	}
	p := prefix.String()
	switch t.Kind {
	case Loglikelihood:
		return []Request{{Context: p + it.Query, Continuation: it.Target}}
	case MultipleInput:
		reqs := make([]Request, len(it.Choices))
		for i, c := range it.Choices {
			reqs[i] = Request{Context: p + c, Continuation: targetDelimiter + it.Target}
		}
		return reqs
	}
	reqs := make([]Request, len(it.Choices))
	for i, c := range it.Choices {
		reqs[i] = Request{Context: p + it.Query, Continuation: targetDelimiter + c}
	}
	return reqs
}

// FewshotSeed is lm-evaluation-harness's default few-shot seed (fewshot_random_seed).
const FewshotSeed = 1234

// fewshotSampler draws few-shot examples as the harness's default ContextSampler does:
// one random.Random(FewshotSeed) per task, random.sample over the training split for
// each evaluated item in order; for tasks without a test split it samples k+1 and drops
// the evaluated item.
type fewshotSampler struct {
	t   *Task
	k   int
	rnd *pyRandom
}

func (t *Task) newSampler(k int) (*fewshotSampler, error) {
	if k <= 0 {
		return nil, nil
	}
	if t.TrainSplit == "" {
		return nil, fmt.Errorf("%s: --num-fewshot %d needs a training split and the task has none (lm-evaluation-harness runs it 0-shot)", t.Name, k)
	}
	need := k
	if t.excludeEval {
		need++
	}
	if len(t.Train) == 0 {
		return nil, fmt.Errorf("%s: --num-fewshot %d needs the %s split, which is not loaded (the local fixtures hold only the %s split; download the dataset and pass --data)", t.Name, k, t.TrainSplit, t.EvalSplit)
	}
	if len(t.Train) < need {
		return nil, fmt.Errorf("%s: --num-fewshot %d needs %d training items, have %d", t.Name, k, need, len(t.Train))
	}
	return &fewshotSampler{t: t, k: k, rnd: newPyRandom(FewshotSeed)}, nil
}

func (s *fewshotSampler) next(eval *Item) []*Item {
	if s == nil {
		return nil
	}
	if !s.t.excludeEval {
		idx := s.rnd.sample(len(s.t.Train), s.k)
		out := make([]*Item, len(idx))
		for i, j := range idx {
			out[i] = &s.t.Train[j]
		}
		return out
	}
	idx := s.rnd.sample(len(s.t.Train), s.k+1)
	out := make([]*Item, 0, s.k)
	for _, j := range idx {
		if len(out) == s.k {
			break
		}
		if !sameItem(&s.t.Train[j], eval) {
			out = append(out, &s.t.Train[j])
		}
	}
	return out
}

func sameItem(a, b *Item) bool {
	return a.Query == b.Query && a.Target == b.Target && a.Gold == b.Gold &&
		slices.Equal(a.Choices, b.Choices) && slices.Equal(a.Labels, b.Labels)
}
