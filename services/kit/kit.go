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

import (
	"runtime/debug"

	"github.com/andrelair-platform/platform-demo/services/kit/contract"
)

// ImportPath is the kit's import path, which the link-time symbols start with.
const ImportPath = contract.KitPath

// Symbols the pipeline sets at link time (contract.VersionSymbol,
// contract.CommitSymbol).
const (
	VersionSymbol = contract.VersionSymbol
	CommitSymbol  = contract.CommitSymbol
)

// version and commit are set with -ldflags -X (VersionSymbol, CommitSymbol).
var (
	version = "dev"
	commit  = "unknown"
)

// The paths of the contract.
const (
	VersionPath = contract.VersionPath
	HealthzPath = contract.HealthzPath
	ReadyzPath  = contract.ReadyzPath
	MetricsPath = contract.MetricsPath
)

// ListeningMessage is the message of the log line Serve writes once it
// accepts connections; its attributes are addr, version and commit.
const ListeningMessage = contract.ListeningMessage

// Version is the body of GET /version (contract.Version), which the
// pipeline's verify decodes.
type Version = contract.Version

// Build returns the version and commit the binary was stamped with.
func Build() (string, string) {
	info, _ := debug.ReadBuildInfo()
	return buildVersion(version, commit, info)
}
