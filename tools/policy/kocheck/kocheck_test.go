package kocheck

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/andrelair-platform/platform-demo/tools/internal/inputs"
	"github.com/andrelair-platform/platform-demo/tools/publish"
)

// TestRepositorySettings guards the settings production depends on: the
// service is the one image, built on the distroless base pinned by digest,
// CGO-free and trimmed, and stamped with its version.
func TestRepositorySettings(t *testing.T) {
	root := inputs.Need(t, inputs.Build, inputs.Services)
	s, err := publish.ReadSettings(root, "", "")
	if err != nil {
		t.Fatalf("ReadSettings(.ko.yaml): %v", err)
	}
	if want := "github.com/andrelair-platform/platform-demo/services/platform-demo"; s.Package != want {
		t.Errorf("package = %q, want %q", s.Package, want)
	}
	if !regexp.MustCompile(`^gcr\.io/distroless/static:nonroot@sha256:[0-9a-f]{64}$`).MatchString(s.Base) {
		t.Errorf("base = %q, want gcr.io/distroless/static:nonroot pinned by a sha256 digest", s.Base)
	}
	if !slices.Contains(s.Flags, "-trimpath") {
		t.Errorf("flags = %q, want -trimpath", s.Flags)
	}
	if !slices.Contains(s.Env, "CGO_ENABLED=0") {
		t.Errorf("env = %q, want CGO_ENABLED=0: the distroless static base has no C library", s.Env)
	}
	if !slices.ContainsFunc(s.Ldflags, func(l string) bool { return strings.Contains(l, ".Env.LDFLAGS") }) {
		t.Errorf("ldflags = %q, want the {{.Env.LDFLAGS}} template that stamps the version", s.Ldflags)
	}
	if !slices.Equal(s.Platforms, []string{"linux/amd64"}) {
		t.Errorf("defaultPlatforms = %q, want [linux/amd64]", s.Platforms)
	}
}
