package publish

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestTargetFor(t *testing.T) {
	const goMod = "module example.com/demo\n\ngo 1.26\n"
	tests := []struct {
		name    string
		koYAML  string
		main    string
		want    target // dir is relative to the test's root
		wantErr string
	}{
		{
			name: "builds entry",
			koYAML: `defaultBaseImage: registry.example/base@sha256:` + strings.Repeat("a", 64) + `
builds:
- id: app
  main: ./cmd/app
  flags: [-trimpath]
  ldflags: ["{{.Env.LDFLAGS}}"]
`,
			main: "./cmd/app",
			want: target{importPath: "example.com/demo/cmd/app", dir: ".", base: "registry.example/base@sha256:" + strings.Repeat("a", 64)},
		},
		{
			name: "main names a file, defaults fill in",
			koYAML: `defaultBaseImage: registry.example/base:1
defaultEnv: [CGO_ENABLED=0]
defaultLdflags: ["-s -w {{.Env.LDFLAGS}}"]
baseImageOverrides:
  example.com/demo/cmd/app: registry.example/other:2
builds:
- main: ./cmd/app/main.go
`,
			main: "./cmd/app",
			want: target{importPath: "example.com/demo/cmd/app", dir: ".", base: "registry.example/other:2"},
		},
		{
			name:   "no entry: the defaults",
			koYAML: "defaultBaseImage: registry.example/base:1\ndefaultLdflags: ['{{.Env.LDFLAGS}}']\nbuilds:\n- main: ./cmd/other\n  ldflags: ['-s']\n",
			main:   "./cmd/app",
			want:   target{importPath: "example.com/demo/cmd/app", dir: ".", base: "registry.example/base:1"},
		},
		{
			name:    "defaults without the version",
			koYAML:  "defaultBaseImage: registry.example/base:1\ndefaultLdflags: ['-s -w']\n",
			main:    "./cmd/app",
			wantErr: "defaultLdflags has no {{.Env.LDFLAGS}}",
		},
		{
			name:    "not a directory",
			koYAML:  "defaultBaseImage: registry.example/base:1\ndefaultLdflags: ['{{.Env.LDFLAGS}}']\n",
			main:    "./cmd/nothing",
			wantErr: "not a directory",
		},
		{
			name:    "version not injected",
			koYAML:  "defaultBaseImage: registry.example/base:1\nbuilds:\n- main: ./cmd/app\n  ldflags: ['-s -w']\n",
			main:    "./cmd/app",
			wantErr: "{{.Env.LDFLAGS}}",
		},
		{
			name:    "unknown setting",
			koYAML:  "defaultBaseImage: registry.example/base:1\ndefaultBaseImag: typo\n",
			main:    "./cmd/app",
			wantErr: "defaultBaseImag",
		},
		{
			name:    "no base",
			koYAML:  "builds:\n- main: ./cmd/app\n  ldflags: ['{{.Env.LDFLAGS}}']\n",
			main:    "./cmd/app",
			wantErr: "defaultBaseImage",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			write(t, filepath.Join(root, "go.mod"), goMod)
			write(t, filepath.Join(root, "cmd", "app", "main.go"), "package main\n\nfunc main() {}\n")
			write(t, filepath.Join(root, ConfigFile), tt.koYAML)

			got, err := func() (target, error) {
				cfg, err := readConfig(configPath(root, ""))
				if err != nil {
					return target{}, err
				}
				return cfg.targetFor(root, tt.main)
			}()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("targetFor(%q) error = %v, want one containing %q", tt.main, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("targetFor(%q): %v", tt.main, err)
			}
			got.dir, _ = filepath.Rel(root, got.dir)
			if got.importPath != tt.want.importPath || got.dir != tt.want.dir || got.base != tt.want.base {
				t.Errorf("targetFor(%q) = {%q, %q, %q}, want {%q, %q, %q}", tt.main,
					got.importPath, got.dir, got.base, tt.want.importPath, tt.want.dir, tt.want.base)
			}
			if !slices.ContainsFunc(got.config.Ldflags, func(s string) bool { return strings.Contains(s, ".Env.LDFLAGS") }) {
				t.Errorf("ldflags = %q, want the LDFLAGS template", got.config.Ldflags)
			}
		})
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
