// Command platform-demo is the demo service of the platform: it reports which
// build runs where, on top of the service kit's contract (/version,
// /healthz, /readyz with drain, /metrics; services/kit).
package main

import (
	"net/http"
	"os"
	"time"

	"github.com/andrelair-platform/platform-demo/services/kit"
)

// name is the service's name: its directory under services/, its image and
// its metrics' prefix.
const name = "platform-demo"

func main() { kit.Main(name, routes) }

// routes registers the service's own endpoints.
func routes(s *kit.Server, getenv func(string) string) error {
	cfg := loadConfig(getenv)
	hostname, err := os.Hostname()
	if err != nil {
		hostname = "unknown"
	}
	version, commit := kit.Build()
	r := &root{version: version, commit: commit, hostname: hostname, message: cfg.message, now: time.Now}
	s.HandleFunc("/{$}", r.serve, http.StatusOK)
	return nil
}
