package pipeline

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestMain points REGISTRY_AUTH_FILE at an empty auth file at a fixed path.
// Unset, go-containerregistry's default keychain looks for the variable's
// cleaned value, ".": this package's directory, which Go's test cache would
// then record by path and time, so that no result carried over to another
// clone. The file exists, empty, because podman reads the variable too and
// refuses a path that does not exist.
func TestMain(m *testing.M) {
	path, err := emptyAuthFile()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Setenv("REGISTRY_AUTH_FILE", path)
	os.Exit(m.Run())
}

// emptyAuthFile writes {"auths":{}} to a path that is the same for every
// run on the machine, atomically, since test processes may race to it.
func emptyAuthFile() (string, error) {
	dir := filepath.Join(os.TempDir(), "platform-demo-tests")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, "auth-*.json")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(`{"auths":{}}` + "\n"); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	path := filepath.Join(dir, "registry-auth.json")
	return path, os.Rename(tmp.Name(), path)
}
