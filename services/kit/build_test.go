package kit

import (
	"runtime/debug"
	"testing"
)

// TestBuildVersion covers the fallback to VCS stamping, which builds here
// never exercise (they run with -buildvcs=false).
func TestBuildVersion(t *testing.T) {
	const sha = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"
	stamped := func(settings ...debug.BuildSetting) *debug.BuildInfo {
		return &debug.BuildInfo{Settings: settings}
	}
	revision := debug.BuildSetting{Key: "vcs.revision", Value: sha}
	tests := []struct {
		name        string
		version     string
		commit      string
		info        *debug.BuildInfo
		wantVersion string
		wantCommit  string
	}{
		{name: "ldflags win", version: "9f8e7d6", commit: "9f8e7d6c", info: stamped(revision), wantVersion: "9f8e7d6", wantCommit: "9f8e7d6c"},
		{name: "no build info", version: "dev", commit: "unknown", info: nil, wantVersion: "dev", wantCommit: "unknown"},
		{name: "no vcs stamp", version: "dev", commit: "unknown", info: stamped(), wantVersion: "dev", wantCommit: "unknown"},
		{name: "vcs fallback", version: "dev", commit: "unknown", info: stamped(revision), wantVersion: "1a2b3c4", wantCommit: sha},
		{
			name: "dirty tree", version: "dev", commit: "unknown",
			info:        stamped(revision, debug.BuildSetting{Key: "vcs.modified", Value: "true"}),
			wantVersion: "1a2b3c4-dirty", wantCommit: sha,
		},
		{
			name: "clean tree", version: "dev", commit: "unknown",
			info:        stamped(revision, debug.BuildSetting{Key: "vcs.modified", Value: "false"}),
			wantVersion: "1a2b3c4", wantCommit: sha,
		},
		{name: "only commit set", version: "dev", commit: "abc", info: stamped(revision), wantVersion: "1a2b3c4", wantCommit: "abc"},
		{name: "short revision", version: "dev", commit: "unknown", info: stamped(debug.BuildSetting{Key: "vcs.revision", Value: "abc"}), wantVersion: "abc", wantCommit: "abc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, c := buildVersion(tt.version, tt.commit, tt.info)
			if v != tt.wantVersion || c != tt.wantCommit {
				t.Errorf("buildVersion(%q, %q, ...) = %q, %q, want %q, %q", tt.version, tt.commit, v, c, tt.wantVersion, tt.wantCommit)
			}
		})
	}
}
