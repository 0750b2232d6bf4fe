// Package kit is the contract between a service of this repository and the
// pipeline that deploys it, written once for every service.
//
// The pipeline stamps each binary with the commit that last changed the
// service (VersionSymbol, CommitSymbol), proves a rollout by reading
// GET /version (the Version type, which verify parses), waits for
// GET /readyz before it moves traffic, reads GET /metrics during the soak,
// and drains a process with SIGTERM. A service built on the kit answers all
// of it: it registers its own endpoints on a Server, and Main runs the rest.
//
//	func main() {
//		kit.Main("hello", func(s *kit.Server, getenv func(string) string) error {
//			s.HandleFunc("/{$}", hello)
//			return nil
//		})
//	}
package kit

import "runtime/debug"

// ImportPath is the kit's import path, which the link-time symbols start with.
const ImportPath = "github.com/andrelair-platform/platform-demo/services/kit"

// Symbols the pipeline sets at link time:
//
//	-X github.com/andrelair-platform/platform-demo/services/kit.version=1a2b3c4
//	-X github.com/andrelair-platform/platform-demo/services/kit.commit=<full sha>
const (
	VersionSymbol = ImportPath + ".version"
	CommitSymbol  = ImportPath + ".commit"
)

// version and commit are set with -ldflags -X (VersionSymbol, CommitSymbol).
var (
	version = "dev"
	commit  = "unknown"
)

// The paths of the contract.
const (
	VersionPath = "/version"
	HealthzPath = "/healthz"
	ReadyzPath  = "/readyz"
	MetricsPath = "/metrics"
)

// ListeningMessage is the message of the log line Serve writes once it
// accepts connections; its attributes are addr, version and commit.
const ListeningMessage = "listening"

// Version is the body of GET /version, in podinfo's shape, with when this
// process started: since when the commit has been live here. The pipeline's
// verify decodes this type.
type Version struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Started string `json:"started,omitempty"`
}

// Build returns the version and commit the binary was stamped with.
func Build() (string, string) {
	info, _ := debug.ReadBuildInfo()
	return buildVersion(version, commit, info)
}
