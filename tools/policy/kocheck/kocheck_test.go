package kocheck

import (
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"

	"github.com/andrelair-platform/platform-demo/tools/internal/inputs"
	"github.com/andrelair-platform/platform-demo/tools/internal/inputstest"
	"github.com/andrelair-platform/platform-demo/tools/publish"
	"github.com/andrelair-platform/platform-demo/tools/service"
)

// TestRepositorySettings guards the settings production depends on: every
// service is built on the distroless base pinned by digest, CGO-free and
// trimmed, and stamped with its version.
func TestRepositorySettings(t *testing.T) {
	root := inputstest.Need(t, inputs.Build, inputs.ServiceModules)
	svcs, err := workspaceServices(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(svcs) == 0 {
		t.Fatal("no services found: the check would pass vacuously")
	}
	for _, svc := range svcs {
		t.Run(svc.Name, func(t *testing.T) { checkSettings(t, root, svc) })
	}
}

// workspaceServices lists the modules go.work uses under services/, the
// kit aside, from go.work and their go.mod alone: reading their code (to
// find the main packages, as service.List does) would make every change to
// a service run this test again.
func workspaceServices(root string) ([]service.Service, error) {
	b, err := os.ReadFile(filepath.Join(root, "go.work"))
	if err != nil {
		return nil, err
	}
	wf, err := modfile.ParseWork("go.work", b, nil)
	if err != nil {
		return nil, err
	}
	var out []service.Service
	for _, u := range wf.Use {
		dir := path.Clean(filepath.ToSlash(u.Path))
		name, ok := strings.CutPrefix(dir, service.Dir+"/")
		if !ok || name == service.Kit || strings.Contains(name, "/") {
			continue
		}
		gomod, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(dir), "go.mod"))
		if err != nil {
			return nil, err
		}
		out = append(out, service.Service{Name: name, Dir: dir, Module: modfile.ModulePath(gomod)})
	}
	return out, nil
}

func checkSettings(t *testing.T, root string, svc service.Service) {
	s, err := publish.ReadSettings(root, "", svc.Dir)
	if err != nil {
		t.Fatalf("ReadSettings(.ko.yaml, %s): %v", svc.Dir, err)
	}
	if s.Package != svc.Module {
		t.Errorf("package = %q, want %q", s.Package, svc.Module)
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
