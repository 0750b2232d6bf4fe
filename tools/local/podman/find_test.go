package podman

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFind guards a fresh machine where podman was installed without its
// recommended packages: catatonit is missing, and every `kube play` would
// fail offline with "finding pause binary". Find names the package to
// install, and finds catatonit where podman itself looks for it.
func TestFind(t *testing.T) {
	tests := []struct {
		name string
		// onPath and inHelperDir are the programs installed in each place.
		onPath, inHelperDir []string
		// missing are the programs Find must report, each with its package.
		missing []string
	}{
		{"all installed, catatonit where Debian puts it", []string{"podman", "runc"}, []string{"catatonit"}, nil},
		{"catatonit on PATH only", []string{"podman", "runc", "catatonit"}, nil, nil},
		{"podman without its recommends", []string{"podman", "runc"}, nil, []string{"catatonit"}},
		{"nothing", nil, nil, []string{"podman", "runc", "catatonit"}},
		{"no runc", []string{"podman"}, []string{"catatonit"}, []string{"runc"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bin, helpers := t.TempDir(), t.TempDir()
			for _, p := range tt.onPath {
				executable(t, filepath.Join(bin, p))
			}
			for _, p := range tt.inHelperDir {
				executable(t, filepath.Join(helpers, p))
			}
			// A file that is not executable is not the program.
			if err := os.WriteFile(filepath.Join(helpers, "runc"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Setenv("PATH", bin)
			dirs := []string{filepath.Join(helpers, "missing"), helpers}
			got, err := Find("", dirs)
			if len(tt.missing) == 0 {
				if err != nil {
					t.Fatalf("Find() error = %v, want none", err)
				}
				if got.Podman != filepath.Join(bin, "podman") || got.Catatonit == "" {
					t.Errorf("Find() = %+v, want podman from PATH and catatonit found", got)
				}
				return
			}
			if !errors.Is(err, ErrNotInstalled) {
				t.Fatalf("Find() error = %v, want ErrNotInstalled", err)
			}
			for _, p := range tt.missing {
				if want := "apt-get install " + p; !strings.Contains(err.Error(), want) {
					t.Errorf("Find() error = %q, want it to say %q", err, want)
				}
			}
			var missing *MissingError
			if !errors.As(err, &missing) || missing.Package != tt.missing[0] {
				t.Errorf("Find() error %v: first missing package %+v, want %s", err, missing, tt.missing[0])
			}
			if strings.Contains(err.Error(), "catatonit") != strings.Contains(strings.Join(tt.missing, " "), "catatonit") {
				t.Errorf("Find() error = %q, want catatonit named only when it is missing", err)
			}
		})
	}
}

func executable(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
}
