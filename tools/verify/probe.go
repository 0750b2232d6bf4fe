package verify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/andrelair-platform/platform-demo/services/kit/contract"
	"github.com/andrelair-platform/platform-demo/tools/internal/excerpt"
	"github.com/andrelair-platform/platform-demo/tools/internal/secret"
)

// Version is what the service's /version endpoint (contract.Version) says.
type Version struct {
	// Version is the short version the build was stamped with.
	Version string `json:"version"`
	// Commit is the full sha the build was stamped with.
	Commit string `json:"commit"`
	// Started is when the answering process started, zero when the
	// service does not say.
	Started time.Time `json:"started,omitzero"`
}

// maxBody bounds how much of an answer is read: /version is a few dozen bytes,
// and a misconfigured URL may point at something much larger.
const maxBody = 1 << 20

// Probe GETs <baseURL>/version once and returns what the service reports.
// A nil client means http.DefaultClient. A non-200 answer, a body that is not
// JSON and a body without a commit are errors.
func Probe(ctx context.Context, client *http.Client, baseURL string) (Version, error) {
	endpoint, err := versionURL(baseURL)
	if err != nil {
		return Version{}, err
	}
	if client == nil {
		client = http.DefaultClient
	}
	return get(ctx, client, endpoint)
}

// poll is one Probe of a checked endpoint, bounded by timeout.
func poll(ctx context.Context, client *http.Client, endpoint string, timeout time.Duration) (Version, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return get(ctx, client, endpoint)
}

func get(ctx context.Context, client *http.Client, endpoint string) (Version, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return Version{}, fmt.Errorf("get %s: %w", secret.URL(endpoint), err)
	}
	// A password in VERIFY_URL (basic auth at an ingress) must not reach
	// an error message: every message below names the URL without it.
	endpoint = secret.URL(endpoint)
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		// *url.Error repeats the method and URL; keep only its cause.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return Version{}, fmt.Errorf("get %s: %w", endpoint, err)
	}
	defer func() {
		// Drain what is left so the connection goes back to the pool.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
		_ = resp.Body.Close()
	}()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return Version{}, fmt.Errorf("get %s: read body: %w", endpoint, err)
	}
	if resp.StatusCode != http.StatusOK {
		return Version{}, &AnswerError{URL: endpoint, Code: resp.StatusCode, Status: resp.Status, Excerpt: excerpt.Of(body)}
	}
	var kv contract.Version
	if err := json.Unmarshal(body, &kv); err != nil {
		return Version{}, fmt.Errorf("get %s: answer is not JSON (Content-Type %q%s), so the URL may not be the service itself: %w",
			endpoint, resp.Header.Get("Content-Type"), excerpt.Of(body), err)
	}
	if strings.TrimSpace(kv.Commit) == "" {
		return Version{}, fmt.Errorf("get %s: answer has no \"commit\"%s", endpoint, excerpt.Of(body))
	}
	v := Version{Version: kv.Version, Commit: kv.Commit}
	if kv.Started != "" {
		// A service that says since when in another form still answers
		// its commit, which is what verify needs.
		v.Started, _ = time.Parse(time.RFC3339, kv.Started)
	}
	return v, nil
}

// AnswerError is an answer of the service other than 200 OK.
type AnswerError struct {
	// URL is the address asked, without credentials.
	URL string
	// Code and Status are the answer's status ("503 Service Unavailable").
	Code   int
	Status string
	// Excerpt is the start of its body, as a message shows it.
	Excerpt string
}

func (e *AnswerError) Error() string { return fmt.Sprintf("get %s: %s%s", e.URL, e.Status, e.Excerpt) }

// versionURL checks baseURL and appends /version to it.
func versionURL(baseURL string) (string, error) {
	baseURL = strings.TrimSpace(baseURL)
	if baseURL == "" {
		return "", ErrNoURL
	}
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("service URL %q is not an http(s) URL: set VERIFY_URL like http://platform-demo.example", secret.URL(baseURL))
	}
	u.Path = strings.TrimRight(u.Path, "/") + contract.VersionPath
	u.RawPath = ""
	return u.String(), nil
}
