// Package contract is what a service and the pipeline agree on: the
// symbols the pipeline stamps at link time, the paths it probes, the log
// line it waits for and the body of GET /version it decodes.
//
// It holds declarations only, and changes only when the agreement does.
// The pipeline's tools import it and nothing else of the kit, so that a
// change to the kit's code (a handler, a log message) is a change to every
// service but to no tool: Go neither relinks nor reruns the tools' tests
// for it.
package contract

// KitPath is the kit's import path, which the link-time symbols start with.
const KitPath = "github.com/andrelair-platform/platform-demo/services/kit"

// Symbols the pipeline sets at link time:
//
//	-X github.com/andrelair-platform/platform-demo/services/kit.version=1a2b3c4
//	-X github.com/andrelair-platform/platform-demo/services/kit.commit=<full sha>
const (
	VersionSymbol = KitPath + ".version"
	CommitSymbol  = KitPath + ".commit"
)

// The paths every service answers.
const (
	VersionPath = "/version"
	HealthzPath = "/healthz"
	ReadyzPath  = "/readyz"
	MetricsPath = "/metrics"
)

// ListeningMessage is the message of the log line a service writes once it
// accepts connections; its attributes are addr, version and commit.
const ListeningMessage = "listening"

// Version is the body of GET /version, in podinfo's shape, with when the
// process started: since when the commit has been live there.
type Version struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Started string `json:"started,omitempty"`
}
