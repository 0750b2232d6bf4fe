package kit

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// testOptions are Options with values easy to spot in answers.
func testOptions() Options {
	return Options{
		Name:    "hello-world",
		Version: "1a2b3c4",
		Commit:  "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d",
		Started: time.Date(2026, 5, 9, 0, 0, 0, 0, time.FixedZone("CEST", 2*60*60)),
	}
}

var helloBody = []byte(`{"hello":"world"}` + "\n")

// newServer is a Server with one endpoint of the service's own, on /, as
// a service registers them.
func newServer(opts Options) *Server {
	s := New(opts)
	s.HandleFunc("/{$}", func(w http.ResponseWriter, _ *http.Request) int {
		return WriteJSON(w, http.StatusOK, helloBody)
	})
	return s
}

// response is what a test needs to check of an answer.
type response struct {
	code        int
	contentType string
	body        string
}

// do sends one request through h and returns the answer.
func do(t *testing.T, h http.Handler, method, path string) response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	body, err := io.ReadAll(rec.Result().Body)
	if err != nil {
		t.Fatalf("read body of %s %s: %v", method, path, err)
	}
	return response{code: rec.Code, contentType: rec.Header().Get("Content-Type"), body: string(body)}
}
