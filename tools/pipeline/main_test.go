package pipeline

import (
	"os"
	"testing"
)

// TestMain names a Podman auth file that cannot exist. Unset,
// go-containerregistry's default keychain looks for REGISTRY_AUTH_FILE's
// cleaned value, ".": this package's directory, which Go's test cache would
// then record by path and time, so that no result carried over to another
// clone.
func TestMain(m *testing.M) {
	os.Setenv("REGISTRY_AUTH_FILE", "/nonexistent/platform-demo-tests/auth.json")
	os.Exit(m.Run())
}
