package kit

import "net/http"

var (
	notFoundBody         = []byte(`{"error":"not found"}` + "\n")
	methodNotAllowedBody = []byte(`{"error":"method not allowed"}` + "\n")
	allowGet             = []string{"GET, HEAD"}
)

// notFound answers paths no endpoint serves. The body never echoes the path:
// it is client input.
func notFound(w http.ResponseWriter, _ *http.Request) int {
	return write(w, contentTypeJSON, http.StatusNotFound, notFoundBody)
}

// methodNotAllowed answers a known path asked with a method other than GET or
// HEAD, the only ones any endpoint serves.
func methodNotAllowed(w http.ResponseWriter, _ *http.Request) int {
	w.Header()["Allow"] = allowGet
	return write(w, contentTypeJSON, http.StatusMethodNotAllowed, methodNotAllowedBody)
}
