package eval

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"
)

// Row is one record of a data file as decoded from JSON or parquet: strings, numbers
// (float64 from JSON, int32/int64/float from parquet), booleans, nested Rows (structs) and
// []any (lists). Each task turns rows into Items.
type Row = map[string]any

// maxLineBytes bounds one JSON line (a BoolQ passage is a few KB; this leaves room).
const maxLineBytes = 64 << 20

// ReadRows reads every row of a data file. The format follows the name: .parquet; .jsonl
// (JSON lines); .json (a JSON array of objects, or JSON lines); hellaswag*.txt (llama.cpp's
// six-line HellaSwag format, yielding rows with query, choices and gold); any of the text
// formats may be compressed as .bz2 or .gz. Errors name the file and the line or row.
func ReadRows(path string) ([]Row, error) { return readRows(path, 0) }

// readRows reads the rows of a file, stopping after limit rows of a JSON lines or text
// file when limit > 0 (a --limit run need not decompress all of HellaSwag).
func readRows(path string, limit int) ([]Row, error) {
	name := strings.ToLower(filepath.Base(path))
	if strings.HasSuffix(name, ".parquet") {
		return readParquetFile(path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = bufio.NewReaderSize(f, 1<<20)
	switch {
	case strings.HasSuffix(name, ".bz2"):
		r = bzip2.NewReader(r)
		name = strings.TrimSuffix(name, ".bz2")
	case strings.HasSuffix(name, ".gz"):
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		defer zr.Close()
		r = zr
		name = strings.TrimSuffix(name, ".gz")
	}
	var rows []Row
	switch {
	case strings.HasSuffix(name, ".txt"):
		rows, err = readHellaSwagText(r, limit)
	case strings.HasSuffix(name, ".json"):
		rows, err = readJSON(r)
	case strings.HasSuffix(name, ".jsonl"):
		rows, err = readJSONLines(r, limit)
	default:
		return nil, fmt.Errorf("%s: unknown data format (want .parquet, .jsonl, .json or .txt, optionally .bz2/.gz)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rows, nil
}

// ReadJSONLines decodes one JSON object per non-blank line.
func ReadJSONLines(r io.Reader) ([]Row, error) { return readJSONLines(r, 0) }

func readJSONLines(r io.Reader, limit int) ([]Row, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<16), maxLineBytes)
	var rows []Row
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var row Row
		if err := json.Unmarshal(b, &row); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if row == nil {
			return nil, fmt.Errorf("line %d: not a JSON object", line)
		}
		rows = append(rows, row)
		if len(rows) == limit {
			return rows, nil
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", line+1, err)
	}
	return rows, nil
}

// readJSON reads a .json file: a JSON array of objects, or JSON lines. Objects that map
// answers to 0/1 labels (TruthfulQA's original mc_task.json) keep their key order: the rows
// get the Hugging Face shape {choices: [...], labels: [...]} for such fields.
func readJSON(r io.Reader) ([]Row, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	t := bytes.TrimSpace(data)
	if len(t) == 0 || t[0] != '[' {
		return ReadJSONLines(bytes.NewReader(data))
	}
	var raws []map[string]json.RawMessage
	if err := json.Unmarshal(t, &raws); err != nil {
		return nil, fmt.Errorf("JSON array of objects: %w", err)
	}
	rows := make([]Row, 0, len(raws))
	for i, raw := range raws {
		if raw == nil {
			return nil, fmt.Errorf("element %d: not a JSON object", i)
		}
		row := Row{}
		for k, v := range raw {
			if k == "mc1_targets" || k == "mc2_targets" {
				if labelled, ok, err := orderedLabels(v); err != nil {
					return nil, fmt.Errorf("element %d: %s: %w", i, k, err)
				} else if ok {
					row[k] = labelled
					continue
				}
			}
			var x any
			if err := json.Unmarshal(v, &x); err != nil {
				return nil, fmt.Errorf("element %d: %s: %w", i, k, err)
			}
			row[k] = x
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// orderedLabels decodes a JSON object {"answer": 0 or 1, ...} in key order into
// Row{"choices": [...], "labels": [...]}. ok is false when raw is an object already in
// that shape (or not an object of numbers), which the caller then decodes generically.
// A repeated key keeps its first position and last value, as Python's json does.
func orderedLabels(raw json.RawMessage) (Row, bool, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil, false, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, false, nil
	}
	var keys []string
	vals := map[string]float64{}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, false, err
		}
		k, _ := kt.(string)
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, false, err
		}
		f, isNum := v.(float64)
		if !isNum {
			return nil, false, nil
		}
		if _, seen := vals[k]; !seen {
			keys = append(keys, k)
		}
		vals[k] = f
	}
	choices := make([]any, len(keys))
	labels := make([]any, len(keys))
	for i, k := range keys {
		choices[i] = k
		labels[i] = vals[k]
	}
	return Row{"choices": choices, "labels": labels}, true, nil
}

// ReadHellaSwagText reads llama.cpp's HellaSwag text format (klosax/hellaswag_text_data):
// six lines per item, the context ("activity_label: ctx", already preprocessed), the gold
// ending's index 0-3, then the four endings. Rows have query, choices and gold.
func ReadHellaSwagText(r io.Reader) ([]Row, error) { return readHellaSwagText(r, 0) }

func readHellaSwagText(r io.Reader, limit int) ([]Row, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<16), maxLineBytes)
	var rows []Row
	var lines []string
	n := 0
	for sc.Scan() {
		n++
		lines = append(lines, strings.TrimSuffix(sc.Text(), "\r"))
		if len(lines) < 6 {
			continue
		}
		gold, err := strconv.Atoi(strings.TrimSpace(lines[1]))
		if err != nil || gold < 0 || gold > 3 {
			return nil, fmt.Errorf("line %d: gold label %q is not 0-3", n-4, lines[1])
		}
		rows = append(rows, Row{
			"query":   lines[0],
			"choices": []any{lines[2], lines[3], lines[4], lines[5]},
			"gold":    float64(gold),
		})
		lines = lines[:0]
		if len(rows) == limit {
			return rows, nil
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", n+1, err)
	}
	if len(lines) != 0 {
		return nil, fmt.Errorf("line %d: incomplete item: %d of 6 lines", n, len(lines))
	}
	return rows, nil
}

func readParquetFile(path string) ([]Row, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	rows, err := ReadParquet(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rows, nil
}

// ReadParquet decodes every row of a parquet file into Rows following the file's own
// schema (structs become Rows, LIST columns []any), as the Hugging Face Hub serves
// datasets. A malformed file gives an error, never a panic.
func ReadParquet(r io.ReaderAt, size int64) (rows []Row, err error) {
	defer func() {
		if p := recover(); p != nil {
			rows, err = nil, fmt.Errorf("parquet: malformed file: %v", p)
		}
	}()
	if err := checkParquetFrame(r, size); err != nil {
		return nil, err
	}
	f, err := parquet.OpenFile(r, size)
	if err != nil {
		return nil, fmt.Errorf("parquet: %w", err)
	}
	if f.NumRows() > 50_000_000 {
		return nil, fmt.Errorf("parquet: %d rows is more than a task's data set can have", f.NumRows())
	}
	pr := parquet.NewReader(f, f.Schema())
	defer pr.Close()
	for i := int64(0); ; i++ {
		row := Row{}
		if err := pr.Read(&row); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("parquet: row %d: %w", i, err)
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// checkParquetFrame validates the magic numbers and the footer length against the file
// size before parquet-go allocates the footer (it trusts the stored length).
func checkParquetFrame(r io.ReaderAt, size int64) error {
	if size < 12 {
		return fmt.Errorf("parquet: %d bytes is too short for a parquet file", size)
	}
	var head [4]byte
	var tail [8]byte
	if _, err := r.ReadAt(head[:], 0); err != nil {
		return fmt.Errorf("parquet: %w", err)
	}
	if _, err := r.ReadAt(tail[:], size-8); err != nil {
		return fmt.Errorf("parquet: %w", err)
	}
	if string(head[:]) != "PAR1" || string(tail[4:]) != "PAR1" {
		return fmt.Errorf("parquet: not an unencrypted parquet file (magic %q ... %q)", head[:], tail[4:])
	}
	if n := int64(binary.LittleEndian.Uint32(tail[:4])); n > size-12 {
		return fmt.Errorf("parquet: footer of %d bytes does not fit a %d-byte file", n, size)
	}
	return nil
}

// field access helpers; every error names the field.

func getString(r Row, key string) (string, error) {
	v, ok := r[key]
	if !ok || v == nil {
		return "", fmt.Errorf("field %q missing", key)
	}
	switch s := v.(type) {
	case string:
		return s, nil
	case []byte:
		return string(s), nil
	}
	return "", fmt.Errorf("field %q: want a string, have %T", key, v)
}

func asInt(v any) (int, bool) {
	switch x := v.(type) {
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > 1<<40 {
			return 0, false
		}
		return int(x), true
	case float32:
		return asInt(float64(x))
	case int:
		return x, true
	case int32:
		return int(x), true
	case int64:
		if x > 1<<40 || x < -(1<<40) {
			return 0, false
		}
		return int(x), true
	case uint32:
		return int(x), true
	case uint64:
		if x > 1<<40 {
			return 0, false
		}
		return int(x), true
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	case string:
		n, err := strconv.Atoi(strings.TrimSpace(x))
		return n, err == nil
	case json.Number:
		n, err := strconv.Atoi(string(x))
		return n, err == nil
	}
	return 0, false
}

// getInt reads an integer field; numeric strings ("2", as in HellaSwag's label) count.
func getInt(r Row, key string) (int, error) {
	v, ok := r[key]
	if !ok || v == nil {
		return 0, fmt.Errorf("field %q missing", key)
	}
	n, ok := asInt(v)
	if !ok {
		return 0, fmt.Errorf("field %q: want an integer, have %v", key, v)
	}
	return n, nil
}

func getList(r Row, key string) ([]any, error) {
	v, ok := r[key]
	if !ok || v == nil {
		return nil, fmt.Errorf("field %q missing", key)
	}
	switch l := v.(type) {
	case []any:
		return l, nil
	case []string:
		out := make([]any, len(l))
		for i, s := range l {
			out[i] = s
		}
		return out, nil
	}
	return nil, fmt.Errorf("field %q: want a list, have %T", key, v)
}

func getStrings(r Row, key string) ([]string, error) {
	l, err := getList(r, key)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(l))
	for i, v := range l {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("field %q[%d]: want a string, have %T", key, i, v)
		}
		out[i] = s
	}
	return out, nil
}

func getInts(r Row, key string) ([]int, error) {
	l, err := getList(r, key)
	if err != nil {
		return nil, err
	}
	out := make([]int, len(l))
	for i, v := range l {
		n, ok := asInt(v)
		if !ok {
			return nil, fmt.Errorf("field %q[%d]: want an integer, have %v", key, i, v)
		}
		out[i] = n
	}
	return out, nil
}

func getRow(r Row, key string) (Row, error) {
	v, ok := r[key]
	if !ok || v == nil {
		return nil, fmt.Errorf("field %q missing", key)
	}
	m, ok := v.(Row)
	if !ok {
		return nil, fmt.Errorf("field %q: want an object, have %T", key, v)
	}
	return m, nil
}

func has(r Row, keys ...string) bool {
	for _, k := range keys {
		if _, ok := r[k]; !ok {
			return false
		}
	}
	return true
}

// Locate returns the data files holding split of task t under dir, in reading order
// (shards sorted by name). It recognises, in this order:
//   - the local fixture file named in t.FixtureFile (only for the split it holds);
//   - Hugging Face layouts, under dir itself, dir/<task name>, dir/<owner>/<name> or
//     dir/<name> for each of the task's dataset ids, and the hub cache's
//     dir/datasets--<owner>--<name>/snapshots/<revision>: files named <split>*.parquet,
//     <split>*.jsonl or <split>*.json (also *_<split>.jsonl, as lambada_test.jsonl), in a
//     folder named after the dataset's config when it has one (ARC-Easy, boolq, main,
//     multiple_choice, winogrande_xl, ...) when one exists, never in a folder named after
//     another of its configs, up to four folders deep. Directly under dir, the path must
//     also contain the task's keyword (arc, boolq, hellaswag, lambada, ...).
//
// It returns an error naming what it looked for when nothing matches.
func Locate(dir string, t *Task, split string) ([]string, error) {
	if split == "" {
		return nil, fmt.Errorf("%s: no such split", t.Name)
	}
	if t.FixtureFile != "" && split == t.FixtureSplit {
		p := filepath.Join(dir, t.FixtureFile)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return []string{p}, nil
		}
	}
	roots := []string{filepath.Join(dir, t.Name)}
	for _, id := range t.Datasets {
		roots = append(roots, filepath.Join(dir, filepath.FromSlash(id)))
		if i := strings.IndexByte(id, '/'); i >= 0 {
			roots = append(roots, filepath.Join(dir, id[i+1:]))
			snaps, _ := filepath.Glob(filepath.Join(dir, "datasets--"+strings.ReplaceAll(id, "/", "--"), "snapshots", "*"))
			sort.Strings(snaps)
			roots = append(roots, snaps...)
		}
	}
	roots = append(roots, dir)
	for _, root := range roots {
		if st, err := os.Stat(root); err != nil || !st.IsDir() {
			continue
		}
		var found, inConfig []string
		walkFiles(root, 0, func(p string) {
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return
			}
			// directly under dir, the path must name the task (ARC-Easy/..., lambada_test.jsonl)
			if root == dir && !strings.Contains(strings.ToLower(rel), t.Keyword) {
				return
			}
			if ok, in := matchSplitFile(rel, split, t.Config, t.OtherConfigs); ok {
				found = append(found, p)
				if in {
					inConfig = append(inConfig, p)
				}
			}
		})
		if len(inConfig) > 0 {
			found = inConfig
		}
		if len(found) > 0 {
			found = oneFormat(found)
			sort.Strings(found)
			return found, nil
		}
	}
	want := fmt.Sprintf("%s*.parquet or %s*.jsonl", split, split)
	if t.Config != "" {
		want = t.Config + "/" + want
	}
	hint := ""
	if t.FixtureFile != "" {
		hint = fmt.Sprintf(" or %s (%s split)", t.FixtureFile, t.FixtureSplit)
	}
	return nil, fmt.Errorf("%s: no %s split under %s: looked for %s (dataset %s)%s",
		t.Name, split, dir, want, strings.Join(t.Datasets, " or "), hint)
}

// oneFormat keeps the files of one format when a split is present in several (a parquet
// download beside a JSON lines export of the same data): parquet, else JSON lines, else JSON.
func oneFormat(paths []string) []string {
	format := func(p string) string {
		base := strings.ToLower(filepath.Base(p))
		base = strings.TrimSuffix(strings.TrimSuffix(base, ".gz"), ".bz2")
		return filepath.Ext(base)
	}
	for _, ext := range []string{".parquet", ".jsonl", ".json"} {
		var keep []string
		for _, p := range paths {
			if format(p) == ext {
				keep = append(keep, p)
			}
		}
		if len(keep) > 0 {
			return keep
		}
	}
	return paths
}

// walkFiles calls fn for each regular file under dir, at most 4 folders deep, skipping
// hidden entries and the hub cache's repository folders; symlinked files (the hub
// cache's snapshots) count as files.
func walkFiles(dir string, depth int, fn func(string)) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		p := filepath.Join(dir, e.Name())
		st, err := os.Stat(p)
		if err != nil {
			continue
		}
		if st.IsDir() {
			// hub cache entries are reached through their own roots, never by a walk
			if depth < 4 && !strings.HasPrefix(e.Name(), "datasets--") && !strings.HasPrefix(e.Name(), "models--") && !strings.HasPrefix(e.Name(), "spaces--") {
				walkFiles(p, depth+1, fn)
			}
			continue
		}
		if st.Mode().IsRegular() {
			fn(p)
		}
	}
}

// matchSplitFile reports whether rel (a path relative to a dataset root) is a data file of
// split: its base name starts with the split (test-00000-of-00001.parquet, validation.jsonl)
// or ends with _<split> (lambada_test.jsonl), or it sits in a folder named after the split
// (the hub's parquet export, <config>/<split>/0000.parquet); and no folder on its path names
// another config of the dataset. inConfig reports that a folder names the wanted config.
func matchSplitFile(rel, split, config string, others []string) (match, inConfig bool) {
	rel = filepath.ToSlash(rel)
	base := strings.ToLower(rel[strings.LastIndexByte(rel, '/')+1:])
	stem := base
	for _, ext := range []string{".parquet", ".jsonl", ".json", ".jsonl.gz", ".jsonl.bz2", ".json.gz"} {
		if strings.HasSuffix(base, ext) {
			stem = strings.TrimSuffix(base, ext)
			break
		}
	}
	if stem == base {
		return false, false
	}
	dirs := strings.Split(rel, "/")
	dirs = dirs[:len(dirs)-1]
	split = strings.ToLower(split)
	ok := stem == split || strings.HasPrefix(stem, split+"-") || strings.HasPrefix(stem, split+"_") ||
		strings.HasPrefix(stem, split+".") || strings.HasSuffix(stem, "_"+split) || strings.HasSuffix(stem, "-"+split) ||
		(len(dirs) > 0 && strings.EqualFold(dirs[len(dirs)-1], split))
	if !ok {
		return false, false
	}
	for _, d := range dirs {
		for _, o := range others {
			if strings.EqualFold(d, o) {
				return false, false
			}
		}
		if config != "" && strings.EqualFold(d, config) {
			inConfig = true
		}
	}
	return true, inConfig
}
