package kit

import "runtime/debug"

// buildVersion returns the version and commit to report. Values set with
// -ldflags win. A value left at its default falls back to the VCS revision
// that go build stamps into the binary (without -buildvcs=false): the commit
// is the revision, the version its first 7 characters, with "-dirty" when the
// work tree had changes, as the build pipeline names versions.
func buildVersion(version, commit string, info *debug.BuildInfo) (string, string) {
	if info == nil {
		return version, commit
	}
	var revision string
	var modified bool
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if revision == "" {
		return version, commit
	}
	if commit == "unknown" {
		commit = revision
	}
	if version == "dev" {
		version = revision[:min(7, len(revision))]
		if modified {
			version += "-dirty"
		}
	}
	return version, commit
}
