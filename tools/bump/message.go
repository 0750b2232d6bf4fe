package bump

import (
	"fmt"
	"strings"
	"text/template"
)

// DefaultMessage is the commit message of a bump, a Go text/template over
// MessageData (BUMP_MESSAGE replaces it). Its first line names the container
// and the commit; the trailers name the full commit, the image by digest and
// the commit's page, so that `git log` of the gitops repository says what
// each commit deployed and where it came from.
const DefaultMessage = `ci({{.Container}}): {{.Action}} {{.Short}}{{if .From}} (was {{.From}}){{end}}{{if .SkipCI}} [skip ci]{{end}}
{{if .Commit}}
Source-Commit: {{.Commit}}{{end}}
Image: {{.Pinned}}{{if .CommitURL}}
Source: {{.CommitURL}}{{end}}{{if .Environment}}
Environment: {{.Environment}}{{end}}{{if .Reason}}
Reason: {{.Reason}}{{end}}
`

// MessageData is what a commit message template can say.
type MessageData struct {
	// Container is the container whose image changes, e.g. platform-demo.
	Container string
	// Action is what the commit does: "deploy", "roll back to" or
	// "promote"; Options.Action sets it.
	Action string
	// Commit is the full source commit the image was built from, Short its
	// first seven characters (the image tag when the commit is unknown).
	Commit, Short string
	// Image is the image reference as given; Repository is its repository
	// and Digest its digest (sha256:...), empty when it has none; Pinned is
	// Repository@Digest when there is a digest, else Image.
	Image, Repository, Digest, Pinned string
	// SourceURL is the source repository's web page, and CommitURL the
	// commit's, when known.
	SourceURL, CommitURL string
	// From is the short source commit (or tag) the manifest deployed
	// before, for rollbacks and promotions; empty for deploys.
	From string
	// Previous and PreviousCommit are the image and source commit the
	// manifest held before.
	Previous, PreviousCommit string
	// Reason says why, for rollbacks (ROLLBACK_REASON) and promotions.
	Reason string
	// Environment is the environment the manifest deploys, empty in a
	// repository with one.
	Environment string
	// SkipCI adds [skip ci]: the gitops manifest lives in the repository
	// whose pipeline made the bump.
	SkipCI bool
}

// ParseMessage parses a commit message template (BUMP_MESSAGE) and checks it
// against sample data, so that a mistake fails before anything is built.
func ParseMessage(text string) (*template.Template, error) {
	t, err := template.New("BUMP_MESSAGE").Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("BUMP_MESSAGE: %w", err)
	}
	var b strings.Builder
	if err := t.Execute(&b, MessageData{}); err != nil {
		return nil, fmt.Errorf("BUMP_MESSAGE: %w (the fields are those of bump.MessageData: .Container .Action .Commit .Short .Image .Repository .Digest .Pinned .SourceURL .CommitURL .From .Previous .PreviousCommit .Reason .Environment .SkipCI)", err)
	}
	if strings.TrimSpace(b.String()) == "" && strings.TrimSpace(text) != "" {
		return nil, fmt.Errorf("BUMP_MESSAGE renders an empty message")
	}
	return t, nil
}

// messageData fills MessageData for a bump from the manifest's previous
// state.
func (o Options) messageData(previous, previousCommit string) MessageData {
	d := MessageData{
		Container: o.Container, Action: o.Action, Commit: o.SourceCommit,
		Image: o.Image, SourceURL: strings.TrimSuffix(o.SourceURL, "/"),
		Previous: previous, PreviousCommit: previousCommit, Reason: o.Reason, Environment: o.Environment, SkipCI: o.SkipCI,
	}
	if d.Action == "" {
		d.Action = "deploy"
	}
	d.Short = imageTag(o.Image)
	if len(o.SourceCommit) >= 7 {
		d.Short = o.SourceCommit[:7]
	}
	rest, digest, _ := strings.Cut(o.Image, "@")
	d.Repository, d.Digest, d.Pinned = rest, digest, o.Image
	if i := strings.LastIndexByte(rest, ':'); i > strings.LastIndexByte(rest, '/') {
		d.Repository = rest[:i]
	}
	if digest != "" {
		d.Pinned = d.Repository + "@" + digest
	}
	if d.SourceURL != "" && d.Commit != "" {
		d.CommitURL = d.SourceURL + "/commit/" + d.Commit
	}
	if d.Action != "deploy" {
		switch {
		case len(previousCommit) >= 7:
			d.From = previousCommit[:7]
		case previous != "":
			d.From = imageTag(previous)
		}
	}
	return d
}

// message renders the commit message of the bump.
func (o Options) message(previous, previousCommit string) (string, error) {
	t := o.messageTemplate
	if t == nil {
		var err error
		if t, err = ParseMessage(DefaultMessage); err != nil {
			return "", err
		}
	}
	var b strings.Builder
	if err := t.Execute(&b, o.messageData(previous, previousCommit)); err != nil {
		return "", fmt.Errorf("render the commit message: %w", err)
	}
	return strings.TrimSpace(b.String()) + "\n", nil
}
