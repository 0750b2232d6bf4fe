package secret

import (
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"https://api.github.com/", "https://api.github.com/"},
		{"http://user:SENTINELpass@127.0.0.1:8080/base", "http://127.0.0.1:8080/base"},
		{"https://x-access-token:SENTINELtoken@github.com/o/gitops.git", "https://github.com/o/gitops.git"},
		{"https://SENTINELtoken@argocd.example", "https://argocd.example"},
		{"https://svc.example/?token=SENTINEL", "https://svc.example/?…"},
		{"http://u:SENTINEL#x@host", hidden},
		{"http://u:12?SENTINEL@host", hidden},
		{"http://%zz:SENTINEL@host", hidden},
		{"ssh://git@github.com/o/gitops.git", "ssh://github.com/o/gitops.git"},
		{"git@github.com:o/gitops.git", "github.com:o/gitops.git"},
		{"user:SENTINEL@argocd.example:443", "argocd.example:443"},
		{"argocd.example:443", "argocd.example:443"},
		{"/srv/gitops.git", "/srv/gitops.git"},
		{"./gitops.git", "./gitops.git"},
		{"andrelair-platform/minicloud-gitops", "andrelair-platform/minicloud-gitops"},
		{"", ""},
	}
	for _, tt := range tests {
		got := URL(tt.in)
		if got != tt.want {
			t.Errorf("URL(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if strings.Contains(got, "SENTINEL") {
			t.Errorf("URL(%q) = %q shows the credential", tt.in, got)
		}
	}
}
