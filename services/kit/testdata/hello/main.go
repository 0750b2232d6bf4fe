// Command hello is the smallest service on the kit: the binary the kit's
// tests build and run, as the pipeline builds a service.
package main

import (
	"net/http"

	"github.com/andrelair-platform/platform-demo/services/kit"
)

func main() {
	kit.Main("hello", func(s *kit.Server, _ func(string) string) error {
		version, commit := kit.Build()
		body := kit.MustJSON(map[string]string{"hello": "world", "version": version, "commit": commit})
		s.HandleFunc("/{$}", func(w http.ResponseWriter, _ *http.Request) int {
			return kit.WriteJSON(w, http.StatusOK, body)
		})
		return nil
	})
}
