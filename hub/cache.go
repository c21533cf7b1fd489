package hub

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Repository types, as the hub names them.
const (
	RepoModel   = "model"
	RepoDataset = "dataset"
)

// DefaultRevision is the branch fetched when no revision is given.
const DefaultRevision = "main"

// RepoFolder returns the name of a repository's folder inside the cache, as huggingface_hub
// names it: "models--Deci--DeciLM-6b-instruct" for the model "Deci/DeciLM-6b-instruct".
func RepoFolder(repoType, repo string) string {
	return strings.Join(append([]string{repoType + "s"}, strings.Split(repo, "/")...), "--")
}

// CachedSnapshot returns the snapshot folder of repo at revision in the cache cacheDir, and
// whether it exists, without any network access. revision may be a branch or tag (looked up
// in refs/) or a full commit hash; "" means main. The snapshot may hold only the files an
// earlier download selected.
func CachedSnapshot(cacheDir, repoType, repo, revision string) (string, bool) {
	if revision == "" {
		revision = DefaultRevision
	}
	if repoType == "" {
		repoType = RepoModel
	}
	if ValidateRepoID(repo) != nil || validateRevision(revision) != nil {
		return "", false
	}
	storage := filepath.Join(cacheDir, RepoFolder(repoType, repo))
	commit, err := readRef(storage, revision)
	if err != nil {
		if !isCommitHash(revision) {
			return "", false
		}
		commit = revision
	}
	dir := filepath.Join(storage, "snapshots", commit)
	st, err := os.Stat(dir)
	if err != nil || !st.IsDir() {
		return "", false
	}
	return dir, true
}

// readRef returns the commit hash stored in refs/<revision> of a repository's cache folder.
func readRef(storage, revision string) (string, error) {
	b, err := os.ReadFile(filepath.Join(storage, "refs", filepath.FromSlash(revision)))
	if err != nil {
		return "", err
	}
	commit := strings.TrimSpace(string(b))
	if err := validateComponent("commit hash", commit); err != nil {
		return "", fmt.Errorf("hub: refs/%s: %w", revision, err)
	}
	return commit, nil
}

// writeRef records that revision points to commit, atomically and only when it changed, so
// that a read-only cache that is already up to date is never written.
func writeRef(storage, revision, commit string) error {
	if revision == commit {
		return nil
	}
	path := filepath.Join(storage, "refs", filepath.FromSlash(revision))
	if old, err := os.ReadFile(path); err == nil && string(old) == commit {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".ref-*.tmp")
	if err != nil {
		return err
	}
	_, werr := tmp.WriteString(commit) // no newline, as huggingface_hub writes it
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}

// linkPointer makes snapshots/<commit>/<file> a relative symbolic link to blobs/<etag>,
// replacing whatever was there, atomically.
func linkPointer(storage, commit, file, etag string) error {
	pointer, err := pointerPath(storage, commit, file)
	if err != nil {
		return err
	}
	blob := filepath.Join(storage, "blobs", etag)
	rel, err := filepath.Rel(filepath.Dir(pointer), blob)
	if err != nil {
		return err
	}
	if cur, err := os.Readlink(pointer); err == nil && cur == rel {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(pointer), 0o755); err != nil {
		return err
	}
	var rnd [6]byte
	rand.Read(rnd[:])
	tmp := pointer + "." + hex.EncodeToString(rnd[:]) + ".tmp" // unique: other processes may link it too
	if err := os.Symlink(rel, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, pointer); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// pointerPath returns the path of file inside snapshots/<commit>, refusing names that would
// land outside that folder.
func pointerPath(storage, commit, file string) (string, error) {
	if err := ValidateFileName(file); err != nil {
		return "", err
	}
	snap := filepath.Join(storage, "snapshots", commit)
	p := filepath.Join(snap, filepath.FromSlash(file))
	if !strings.HasPrefix(p, snap+string(filepath.Separator)) {
		return "", fmt.Errorf("%w: %q leaves the snapshot folder", ErrUnsafePath, file)
	}
	return p, nil
}

// pointerComplete reports whether snapshots/<commit>/<file> exists and leads to a regular file.
func pointerComplete(storage, commit, file string) bool {
	p, err := pointerPath(storage, commit, file)
	if err != nil {
		return false
	}
	st, err := os.Stat(p) // follows the link: a dangling one is not complete
	return err == nil && st.Mode().IsRegular()
}

// ValidateFileName checks a file name received from the hub (a repository-relative path with
// '/' separators) and returns an error wrapping ErrUnsafePath if it could escape the folder it
// is stored in: absolute paths, ".." or "." components, empty components, backslashes, NUL
// or other control characters.
func ValidateFileName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty file name", ErrUnsafePath)
	}
	if len(name) > 4096 {
		return fmt.Errorf("%w: file name of %d bytes", ErrUnsafePath, len(name))
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return fmt.Errorf("%w: file name %q has the character %q", ErrUnsafePath, name, r)
		}
	}
	if strings.HasPrefix(name, "/") {
		return fmt.Errorf("%w: file name %q is absolute", ErrUnsafePath, name)
	}
	if len(name) >= 2 && name[1] == ':' {
		return fmt.Errorf("%w: file name %q has a drive letter", ErrUnsafePath, name)
	}
	for _, part := range strings.Split(name, "/") {
		switch part {
		case "":
			return fmt.Errorf("%w: file name %q has an empty path component", ErrUnsafePath, name)
		case ".", "..":
			return fmt.Errorf("%w: file name %q has a %q component", ErrUnsafePath, name, part)
		}
	}
	return nil
}

// ValidateRepoID checks a repository id: "name" or "owner/name", each part made of letters,
// digits, '-', '_' and '.', not starting or ending with '-' or '.', without "--" or "..".
func ValidateRepoID(repo string) error {
	parts := strings.Split(repo, "/")
	if repo == "" || len(parts) > 2 {
		return fmt.Errorf("hub: repository id %q: want owner/name", repo)
	}
	if len(repo) > 96 {
		return fmt.Errorf("hub: repository id %q: longer than 96 characters", repo)
	}
	for _, p := range parts {
		if p == "" {
			return fmt.Errorf("hub: repository id %q: empty part", repo)
		}
		for _, r := range p {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
				return fmt.Errorf("hub: repository id %q: character %q not allowed", repo, r)
			}
		}
		if strings.Contains(p, "--") || strings.Contains(p, "..") {
			return fmt.Errorf("hub: repository id %q: \"--\" and \"..\" are not allowed", repo)
		}
		if strings.HasPrefix(p, "-") || strings.HasPrefix(p, ".") || strings.HasSuffix(p, "-") || strings.HasSuffix(p, ".") {
			return fmt.Errorf("hub: repository id %q: a part starts or ends with '-' or '.'", repo)
		}
	}
	return nil
}

// validateRevision checks a revision name: a branch, tag or commit; it may hold '/' (as in
// "refs/pr/1") since it is stored as a nested path under refs/.
func validateRevision(rev string) error {
	if rev == "" {
		return errors.New("hub: empty revision")
	}
	if err := ValidateFileName(rev); err != nil {
		return fmt.Errorf("hub: revision %q: %w", rev, err)
	}
	return nil
}

// validateComponent checks a value from the server (an etag, a commit hash) that becomes one
// file name in the cache.
func validateComponent(what, s string) error {
	if s == "" {
		return fmt.Errorf("%w: empty %s", ErrUnsafePath, what)
	}
	if len(s) > 255 || s[0] == '.' {
		return fmt.Errorf("%w: %s %q is not a plain file name", ErrUnsafePath, what, s)
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("%w: %s %q has the character %q", ErrUnsafePath, what, s, r)
		}
	}
	return nil
}

// isCommitHash reports whether s is a full git commit hash (40 lowercase hex digits).
func isCommitHash(s string) bool { return len(s) == 40 && isHex(s) }

// isSHA256 reports whether s is a sha256 in hex: the etag of an LFS file.
func isSHA256(s string) bool { return len(s) == 64 && isHex(s) }

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
