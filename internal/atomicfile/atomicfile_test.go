package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteFileReplacesWhole(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out.bin")
	if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A failed write leaves the old bytes and no temporary file.
	boom := errors.New("boom")
	err := WriteFile(p, 0o644, func(w io.Writer) error {
		w.Write([]byte("partial"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "old" {
		t.Fatalf("after a failed write the file holds %q", b)
	}
	if err := WriteBytes(p, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "new" {
		t.Fatalf("file holds %q", b)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", st.Mode().Perm())
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("temporary files left: %v", ents)
	}
}

// TestReplaceKeepsOpenInput: replacing a file the writer is still reading keeps the reader's
// bytes (the old inode), unlike os.Create, which truncates it.
func TestReplaceKeepsOpenInput(t *testing.T) {
	p := filepath.Join(t.TempDir(), "model.bin")
	want := strings.Repeat("weights", 1000)
	os.WriteFile(p, []byte(want), 0o644)
	in, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if err := WriteBytes(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(in)
	if string(b) != want {
		t.Fatalf("the open input lost its bytes: %d left", len(b))
	}
}

func TestAbortAndCommitOnce(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	f, err := Create(p, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("a"))
	f.Abort()
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("aborted file exists: %v", err)
	}
	if err := f.Commit(); err == nil {
		t.Fatal("Commit after Abort succeeded")
	}
	if _, err := f.Write([]byte("b")); err == nil {
		t.Fatal("Write after Abort succeeded")
	}
}

func TestCheckNotInput(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "model.safetensors")
	os.WriteFile(in, []byte("x"), 0o644)
	link := filepath.Join(dir, "link.safetensors")
	if err := os.Symlink(in, link); err != nil {
		t.Fatal(err)
	}
	hard := filepath.Join(dir, "hard.safetensors")
	if err := os.Link(in, hard); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o755)
	for _, tc := range []struct {
		out  string
		want string // "" for no error
	}{
		{in, "is an input"},
		{sub + "/../model.safetensors", "is an input"},
		{link, "same file as the input"},
		{hard, "same file as the input"},
		{filepath.Join(dir, "new.safetensors"), ""},
	} {
		err := CheckNotInput("-o", tc.out, "", in)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.out, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "-o")):
			t.Errorf("%s: error %v, want one containing %q and -o", tc.out, err, tc.want)
		}
	}
}

func TestCheckOutputDir(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o755)
	full := filepath.Join(dir, "full")
	os.Mkdir(full, 0o755)
	os.WriteFile(filepath.Join(full, "config.json"), nil, 0o644)
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o644)
	for _, tc := range []struct {
		dir   string
		force bool
		want  string
	}{
		{filepath.Join(dir, "new"), false, ""},
		{empty, false, ""},
		{full, false, "--force"},
		{full, true, ""},
		{file, true, "not a directory"},
	} {
		err := CheckOutputDir("-o", tc.dir, tc.force)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.dir, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s force=%v: error %v, want one containing %q", tc.dir, tc.force, err, tc.want)
		}
	}
}

func TestCreateErrorNamesTarget(t *testing.T) {
	p := filepath.Join(t.TempDir(), "missing", "out.gguf")
	err := WriteBytes(p, nil, 0o644)
	if err == nil || !strings.Contains(err.Error(), "writing "+p) {
		t.Fatalf("err = %v", err)
	}
}
