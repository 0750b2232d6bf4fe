package gate

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestGofmt(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		wantErr string
	}{
		{name: "formatted", src: "package a\n\nfunc F() {}\n"},
		{name: "unformatted", src: "package a\nfunc F( ) {  }\n", wantErr: "gofmt -w a.go"},
		{name: "syntax error", src: "package a\nfunc {\n", wantErr: "gofmt a.go"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if out, err := exec.Command("git", "init", "-q", dir).CombinedOutput(); err != nil {
				t.Fatalf("git init: %v\n%s", err, out)
			}
			if err := os.WriteFile(filepath.Join(dir, "a.go"), []byte(tt.src), 0o644); err != nil {
				t.Fatal(err)
			}
			err := Gofmt(context.Background(), dir)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Gofmt() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Gofmt() = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}
