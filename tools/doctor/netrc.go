package doctor

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// netrc warns when ~/.netrc holds credentials for the API host: curl and
// other netrc-aware tools send them in place of, or beside, an explicit
// token, as the runner's ~/.netrc did to the first curl-based bump.
func (d *doctor) netrc(context.Context) []Row {
	row := Row{Check: CheckNetrc}
	if ok, why := githubGitops(d.s); !ok {
		row.Found = why
		return []Row{row}
	}
	if d.opts.Home == "" {
		row.Found = "not checked: no home directory"
		return []Row{row}
	}
	host := d.s.GitHubAPIURL
	if u, err := url.Parse(d.s.GitHubAPIURL); err == nil && u.Hostname() != "" {
		host = u.Hostname()
	}
	path := filepath.Join(d.opts.Home, ".netrc")
	content, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		row.Found = "no ~/.netrc"
		return []Row{row}
	case err != nil:
		row.Status, row.Found = Warn, fmt.Sprintf("cannot read %s: %v", path, err)
		return []Row{row}
	}
	entry, ok := netrcEntry(content, host)
	if !ok {
		row.Found = "no entry for " + host
		return []Row{row}
	}
	row.Status = Warn
	row.Found = fmt.Sprintf("%s has %s: curl-based steps would send its credentials to %s", path, entry, host)
	row.Fix = "the pipeline sends GITOPS_TOKEN explicitly and never reads ~/.netrc; if you call the API with curl, pass --no-netrc, or remove the entry"
	return []Row{row}
}

// netrcEntry finds the entry that applies to host: its "machine" line, or
// the "default" entry. It returns how to name that entry.
func netrcEntry(content []byte, host string) (string, bool) {
	sc := bufio.NewScanner(bytes.NewReader(content))
	inMacro := false
	var tokens []string
	for sc.Scan() {
		line := sc.Text()
		// A macdef body runs until the next empty line and is not tokens.
		if inMacro {
			if strings.TrimSpace(line) == "" {
				inMacro = false
			}
			continue
		}
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		fields := strings.Fields(line)
		for i, f := range fields {
			if f == "macdef" {
				tokens = append(tokens, fields[:i]...)
				inMacro = true
				fields = nil
				break
			}
		}
		tokens = append(tokens, fields...)
	}
	for i, t := range tokens {
		switch {
		case t == "machine" && i+1 < len(tokens) && strings.EqualFold(tokens[i+1], host):
			return "a `machine " + host + "` entry", true
		case t == "default":
			return "a `default` entry", true
		}
	}
	return "", false
}
