package bump

import (
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
)

// CheckPath returns why path cannot name a file inside a gitops
// repository, as words that follow the path in a message ("climbs out of
// the repository with .."), or nil. Such a path is relative to the repository's root,
// slash-separated and clean: no "." or ".." element, no empty one, no
// leading or trailing slash, and nothing under .git. It is the one rule
// every path setting is held to (config checks GITOPS_PATH, its
// per-environment overrides and the environments file with it when the
// settings load), so that no target reads or writes a file outside the
// repository, whichever backend it uses.
func CheckPath(path string) error {
	elems := strings.Split(path, "/")
	switch {
	case path == "":
		return errors.New("is empty")
	case strings.HasPrefix(path, "/") || filepath.IsAbs(path):
		return errors.New("is absolute: give it from the repository's root, without the leading /")
	case strings.Contains(path, `\`):
		return errors.New("has a backslash: separate folders with /")
	case slices.Contains(elems, ".."):
		return errors.New("climbs out of the repository (a .. part)")
	case path == "." || !fs.ValidPath(path):
		return errors.New("is not clean (an empty or . part, or a trailing /): write it as folder/file.yaml")
	case slices.ContainsFunc(elems, func(e string) bool { return strings.EqualFold(e, ".git") }):
		return errors.New("is inside .git, git's own data, not the repository's files")
	}
	return nil
}

// CheckBranch returns why branch cannot name a branch of a gitops
// repository, as words that follow the branch in a message, or nil: the rules of git check-ref-format for a branch, so
// that a branch setting never reaches git or the API as something else (an
// option, a refspec, several lines).
func CheckBranch(branch string) error {
	bad := strings.ContainsFunc(branch, func(r rune) bool {
		return r <= ' ' || r == 0x7f || strings.ContainsRune(`~^:?*[\`, r)
	})
	elems := strings.Split(branch, "/")
	switch {
	case branch == "":
		return errors.New("is empty")
	case bad:
		return errors.New("has a space, a control character or one of ~^:?*[\\, which git refuses in a branch name")
	case strings.HasPrefix(branch, "-"):
		return errors.New("starts with -, which git would read as an option")
	case strings.Contains(branch, "..") || strings.Contains(branch, "@{") || branch == "@":
		return errors.New("has .. or @{, or is @, which git refuses in a branch name")
	case slices.Contains(elems, "") || strings.HasSuffix(branch, "."),
		slices.ContainsFunc(elems, func(e string) bool { return strings.HasPrefix(e, ".") || strings.HasSuffix(e, ".lock") }):
		return errors.New("has an empty part, a part that starts with . or ends with .lock, or ends with ., which git refuses in a branch name")
	}
	return nil
}
