// Package atomicfile writes files whole or not at all: the bytes go to a temporary file
// beside the target, which is flushed, synced and renamed over the target only when
// everything was written. A reader never sees half a file, a failed or interrupted write
// leaves the old file as it was, and a file the process still has memory-mapped (an input
// being converted) keeps its bytes, because the rename gives the path a new inode instead of
// truncating the old one.
//
// It also holds the checks every command that writes files makes before it starts:
// CheckNotInput refuses an output that is one of the command's inputs, and CheckOutputDir
// refuses to write into a directory that already holds files unless told to.
package atomicfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// File is a file being written; its bytes reach Path only at Commit.
type File struct {
	// Path is the target; the bytes go to a temporary file in its directory until Commit.
	Path string
	f    *os.File
	w    *bufio.Writer
	perm os.FileMode
	done bool
}

// Create starts writing the file at path, which will have permissions perm (0o644 for most
// outputs; the umask does not apply). The directory must exist. Call Commit to put the file in place, or
// Abort (safe to defer; it does nothing after Commit) to throw it away.
func Create(path string, perm os.FileMode) (*File, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return nil, fmt.Errorf("writing %s: %w", path, err)
	}
	return &File{Path: path, f: f, w: bufio.NewWriterSize(f, 1<<20), perm: perm}, nil
}

// Write writes to the temporary file (buffered).
func (a *File) Write(p []byte) (int, error) {
	if a.done {
		return 0, fmt.Errorf("%s: write after Commit or Abort", a.Path)
	}
	return a.w.Write(p)
}

// Commit flushes, syncs and closes the temporary file and renames it to Path. After an
// error the temporary file is removed and Path is untouched.
func (a *File) Commit() error {
	if a.done {
		return fmt.Errorf("%s: Commit after Commit or Abort", a.Path)
	}
	a.done = true
	tmp := a.f.Name()
	err := a.w.Flush()
	if err == nil {
		err = a.f.Chmod(a.perm)
	}
	if err == nil {
		err = a.f.Sync()
	}
	if cerr := a.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, a.Path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", a.Path, err)
	}
	return nil
}

// Abort throws the temporary file away; Path is untouched. It does nothing after Commit.
func (a *File) Abort() {
	if a.done {
		return
	}
	a.done = true
	a.f.Close()
	os.Remove(a.f.Name())
}

// WriteFile writes path through a temporary file: write gets a buffered writer, and the
// file replaces path only when write returns nil.
func WriteFile(path string, perm os.FileMode, write func(w io.Writer) error) error {
	f, err := Create(path, perm)
	if err != nil {
		return err
	}
	defer f.Abort()
	if err := write(f); err != nil {
		return err
	}
	return f.Commit()
}

// WriteBytes is WriteFile for bytes already in memory: the counterpart of os.WriteFile.
func WriteBytes(path string, b []byte, perm os.FileMode) error {
	return WriteFile(path, perm, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

// SameFile reports whether a and b name the same file once symbolic links are followed
// (os.SameFile on what os.Stat finds). A path that does not exist is no other file.
func SameFile(a, b string) (bool, error) {
	sa, err := os.Stat(a)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	sb, err := os.Stat(b)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	return os.SameFile(sa, sb), nil
}

// CheckNotInput returns an error when the output path out is one of the inputs (the same
// file after following links, whatever the spelling of the paths), so that a command never
// replaces what it reads. flag names the output flag in the message ("-o").
func CheckNotInput(flag, out string, inputs ...string) error {
	for _, in := range inputs {
		if in == "" {
			continue
		}
		same, err := SameFile(out, in)
		if err != nil {
			return fmt.Errorf("%s %s: %w", flag, out, err)
		}
		if same {
			if filepath.Clean(in) == filepath.Clean(out) {
				return fmt.Errorf("%s %s is an input of this command: choose another output", flag, out)
			}
			return fmt.Errorf("%s %s is the same file as the input %s: choose another output", flag, out, in)
		}
	}
	return nil
}

// CheckOutputDir checks that dir may receive a command's output files: it must not exist,
// be an empty directory, or force must be set; a file that is not a directory is refused
// always.
func CheckOutputDir(flag, dir string, force bool) error {
	st, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", flag, dir, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("%s %s is a file, not a directory", flag, dir)
	}
	if force {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("%s %s: %w", flag, dir, err)
	}
	defer d.Close()
	names, err := d.Readdirnames(1)
	if err != nil && err != io.EOF {
		return fmt.Errorf("%s %s: %w", flag, dir, err)
	}
	if len(names) > 0 {
		return fmt.Errorf("%s %s already holds files (%s, ...): choose an empty or new directory, or pass --force to write over them", flag, dir, names[0])
	}
	return nil
}
