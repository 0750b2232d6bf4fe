package githubtest

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"math/big"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// GitHub Apps: RS256 JWTs signed with an App's key, installations, and the
// installation access tokens they mint.

const jwtUndecodable = "A JSON web token could not be decoded"

// installationPermissions are what every installation is granted.
var installationPermissions = map[string]string{
	"contents":      "write",
	"pull_requests": "write",
	"issues":        "write",
	"checks":        "write",
	"statuses":      "write",
	"workflows":     "write",
	"metadata":      "read",
}

// MintedToken records an installation access token the server minted.
type MintedToken struct {
	// Token is the token itself ("ghs_…").
	Token          string
	InstallationID int64
	// Repositories are the "owner/name" repositories the token reaches:
	// those requested, or all the installation's when none were.
	Repositories []string
	// Permissions are those requested, or all the installation's when none
	// were.
	Permissions map[string]string
	ExpiresAt   time.Time
}

type installation struct {
	id, appID int64
	repos     []string
}

// AddApp registers a GitHub App with id whose JWTs verify with key.
func (s *Server) AddApp(id int64, key *rsa.PublicKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.apps == nil {
		s.apps = map[int64]*rsa.PublicKey{}
	}
	s.apps[id] = key
}

// InstallApp installs App appID as installation installationID on the
// "owner/name" repositories repos, adding them to the installation when it
// exists.
func (s *Server) InstallApp(appID, installationID int64, repos ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.apps[appID] == nil {
		panic(fmt.Sprintf("githubtest: no App %d", appID))
	}
	if s.installs == nil {
		s.installs = map[int64]*installation{}
	}
	in := s.installs[installationID]
	if in == nil {
		in = &installation{id: installationID, appID: appID}
		s.installs[installationID] = in
	}
	in.repos = append(in.repos, repos...)
}

// Minted returns the installation tokens minted so far, oldest first.
func (s *Server) Minted() []MintedToken {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]MintedToken, len(s.minted))
	for i, m := range s.minted {
		m.Repositories = append([]string(nil), m.Repositories...)
		perms := make(map[string]string, len(m.Permissions))
		for k, v := range m.Permissions {
			perms[k] = v
		}
		m.Permissions = perms
		out[i] = m
	}
	return out
}

// isJWT reports whether a credential has a JWT's three dot-separated parts.
func isJWT(v string) bool { return strings.Count(v, ".") == 2 }

// appFromJWTLocked checks a JWT as GitHub does and returns the App it
// authenticates, or the status and message of the refusal.
func (s *Server) appFromJWTLocked(raw string, now time.Time) (int64, int, string) {
	segs := strings.Split(raw, ".")
	dec := func(seg string) ([]byte, error) {
		return base64.RawURLEncoding.DecodeString(strings.TrimRight(seg, "="))
	}
	header, err1 := dec(segs[0])
	payload, err2 := dec(segs[1])
	sig, err3 := dec(segs[2])
	var hdr struct {
		Alg string `json:"alg"`
	}
	claims := map[string]any{}
	d := json.NewDecoder(bytes.NewReader(payload))
	d.UseNumber()
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(header, &hdr) != nil || hdr.Alg != "RS256" || d.Decode(&claims) != nil {
		return 0, http.StatusUnauthorized, jwtUndecodable
	}
	var id int64
	var err error
	switch iss := claims["iss"].(type) {
	case string:
		id, err = strconv.ParseInt(iss, 10, 64)
	case json.Number:
		id, err = iss.Int64()
	default:
		return 0, http.StatusUnauthorized, jwtUndecodable
	}
	key := s.apps[id]
	if err != nil || key == nil {
		return 0, http.StatusNotFound, "Integration not found"
	}
	digest := sha256.Sum256([]byte(segs[0] + "." + segs[1]))
	if rsa.VerifyPKCS1v15(key, crypto.SHA256, digest[:], sig) != nil {
		return 0, http.StatusUnauthorized, jwtUndecodable
	}
	exp, ok := claims["exp"].(json.Number)
	expAt, err := exp.Float64()
	switch {
	case !ok || err != nil || expAt <= float64(now.Unix()):
		return 0, http.StatusUnauthorized, "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires"
	case expAt > float64(now.Add(10*time.Minute).Unix()):
		return 0, http.StatusUnauthorized, "'Expiration time' claim ('exp') is too far in the future"
	}
	iat, ok := claims["iat"].(json.Number)
	iatAt, err := iat.Int64()
	if !ok || err != nil || iatAt > now.Add(time.Minute).Unix() {
		return 0, http.StatusUnauthorized, "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"
	}
	return id, 0, ""
}

// serveAppLocked serves a request authenticated with an App's JWT, which
// reaches only the App endpoints.
func (s *Server) serveAppLocked(w http.ResponseWriter, req *http.Request, raw, rel string) {
	appID, status, msg := s.appFromJWTLocked(raw, time.Now())
	if status != 0 {
		writeJSON(w, status, message(msg))
		return
	}
	if s.rateLimitedLocked(w) {
		return
	}
	parts := strings.Split(strings.Trim(rel, "/"), "/")
	switch {
	case req.Method == http.MethodGet && rel == "/app":
		slug := fmt.Sprintf("app-%d", appID)
		writeJSON(w, http.StatusOK, map[string]any{
			"id": appID, "slug": slug, "name": slug,
			"owner":       map[string]any{"login": "octocat"},
			"permissions": installationPermissions,
		})
	case req.Method == http.MethodGet && len(parts) == 4 && parts[0] == "repos" && parts[3] == "installation":
		name := parts[1] + "/" + parts[2]
		for _, id := range slices.Sorted(maps.Keys(s.installs)) {
			in := s.installs[id]
			if in.appID == appID && s.repos[name] != nil && slices.Contains(in.repos, name) {
				writeJSON(w, http.StatusOK, s.installationJSON(in))
				return
			}
		}
		writeJSON(w, http.StatusNotFound, message("Not Found"))
	case req.Method == http.MethodGet && len(parts) == 3 && parts[0] == "app" && parts[1] == "installations":
		if in := s.installationLocked(appID, parts[2]); in != nil {
			writeJSON(w, http.StatusOK, s.installationJSON(in))
			return
		}
		writeJSON(w, http.StatusNotFound, message("Not Found"))
	case req.Method == http.MethodPost && len(parts) == 4 && parts[0] == "app" && parts[1] == "installations" && parts[3] == "access_tokens":
		in := s.installationLocked(appID, parts[2])
		if in == nil {
			writeJSON(w, http.StatusNotFound, message("Not Found"))
			return
		}
		s.mintLocked(w, req, in)
	default:
		// A JWT authenticates the App, not an installation: it reaches no
		// repository.
		writeJSON(w, http.StatusUnauthorized, message(jwtUndecodable))
	}
}

func (s *Server) installationLocked(appID int64, id string) *installation {
	n, err := strconv.ParseInt(id, 10, 64)
	if in := s.installs[n]; err == nil && in != nil && in.appID == appID {
		return in
	}
	return nil
}

func (s *Server) installationJSON(in *installation) map[string]any {
	var account string
	if len(in.repos) > 0 {
		account = owner(in.repos[0])
	}
	return map[string]any{
		"id":                   in.id,
		"app_id":               in.appID,
		"app_slug":             fmt.Sprintf("app-%d", in.appID),
		"target_type":          "Organization",
		"account":              map[string]any{"login": account},
		"repository_selection": "selected",
		"permissions":          installationPermissions,
		"access_tokens_url":    fmt.Sprintf("%sapp/installations/%d/access_tokens", s.URL, in.id),
	}
}

// mintLocked is POST /app/installations/{id}/access_tokens.
func (s *Server) mintLocked(w http.ResponseWriter, req *http.Request, in *installation) {
	var body struct {
		Repositories  []string          `json:"repositories"`
		RepositoryIDs []int64           `json:"repository_ids"`
		Permissions   map[string]string `json:"permissions"`
	}
	if !decodeBody(w, req, &body) {
		return
	}
	if len(body.RepositoryIDs) > 0 {
		writeJSON(w, http.StatusUnprocessableEntity, message("githubtest: repository_ids are not modeled; request repositories by name"))
		return
	}
	// Repositories are named without their owner, relative to the
	// installation's account.
	repos := []string{}
	for _, name := range body.Repositories {
		found := ""
		for _, full := range in.repos {
			if path.Base(full) == name && s.repos[full] != nil {
				found = full
			}
		}
		if found == "" {
			writeJSON(w, http.StatusUnprocessableEntity, message("There is at least one repository that does not exist or is not accessible to the parent installation."))
			return
		}
		repos = append(repos, found)
	}
	if len(body.Repositories) == 0 {
		repos = append(repos, in.repos...)
	}
	perms := map[string]string{}
	for k, v := range body.Permissions {
		granted, ok := installationPermissions[k]
		if !ok || (v != "read" && v != "write") || (v == "write" && granted != "write") {
			writeJSON(w, http.StatusUnprocessableEntity, message("The permissions requested are not granted to this installation."))
			return
		}
		perms[k] = v
	}
	if body.Permissions == nil {
		for k, v := range installationPermissions {
			perms[k] = v
		}
	}
	token := "ghs_" + randomString(36)
	expires := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	s.tokens[token] = Token{
		Login:    fmt.Sprintf("app-%d[bot]", in.appID),
		Repos:    repos,
		ReadOnly: perms["contents"] != "write",
		perms:    perms,
	}
	s.minted = append(s.minted, MintedToken{Token: token, InstallationID: in.id, Repositories: repos, Permissions: perms, ExpiresAt: expires})

	answer := map[string]string{"metadata": "read"}
	for k, v := range perms {
		answer[k] = v
	}
	resp := map[string]any{
		"token":                token,
		"expires_at":           expires.Format(time.RFC3339),
		"permissions":          answer,
		"repository_selection": "selected",
	}
	if len(body.Repositories) > 0 {
		list := make([]any, len(repos))
		for i, full := range repos {
			list[i] = map[string]any{"id": 1, "name": path.Base(full), "full_name": full, "owner": map[string]any{"login": owner(full)}}
		}
		resp["repositories"] = list
	}
	writeJSON(w, http.StatusCreated, resp)
}

func randomString(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		k, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			panic(err)
		}
		b[i] = alphabet[k.Int64()]
	}
	return string(b)
}
