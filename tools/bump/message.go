package bump

import (
	"fmt"
	"strings"
	"text/template"
	"unicode"
)

// DefaultMessage is the first part of a bump's commit message, a Go
// text/template over MessageData (BUMP_MESSAGE replaces it): a subject that
// names the container and the commit, and, in a template of one's own, any
// body. The bump always ends the message with its own trailers, after a
// blank line (see Trailers), so that `git log` of the gitops repository
// says what each commit deployed and where it came from, and nothing a
// template or a reason adds can stand in their place.
const DefaultMessage = `ci({{.Container}}): {{.Action}} {{.Short}}{{if .From}} (was {{.From}}){{end}}{{if .SkipCI}} [skip ci]{{end}}`

// MessageData is what a commit message template can say.
type MessageData struct {
	// Container is the container whose image changes, e.g. platform-demo.
	Container string
	// Action is what the commit does: "deploy", "roll back to",
	// "promote" or "verdict on"; Options.Action sets it.
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
// against the data of a sample deploy, so that a mistake fails before
// anything is built: a template that does not parse, names a field
// MessageData lacks, or renders no subject.
func ParseMessage(text string) (*template.Template, error) {
	t, err := template.New("BUMP_MESSAGE").Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("BUMP_MESSAGE: %w", err)
	}
	var b strings.Builder
	if err := t.Execute(&b, sampleData); err != nil {
		return nil, fmt.Errorf("BUMP_MESSAGE: %w (the fields are those of bump.MessageData: .Container .Action .Commit .Short .Image .Repository .Digest .Pinned .SourceURL .CommitURL .From .Previous .PreviousCommit .Reason .Environment .SkipCI)", err)
	}
	if subject(b.String()) == "" {
		return nil, fmt.Errorf("BUMP_MESSAGE renders no subject (its first line is empty for a deploy): start it with what the commit does, e.g. deploy {{.Short}}")
	}
	return t, nil
}

// sampleData is a deploy as ParseMessage tries a template with.
var sampleData = MessageData{
	Container: DefaultContainer, Action: "deploy", Commit: strings.Repeat("0123456789", 4), Short: "0123456",
	Image: "ghcr.io/o/app:0123456@sha256:" + strings.Repeat("0", 64), Repository: "ghcr.io/o/app",
	Digest: "sha256:" + strings.Repeat("0", 64), Pinned: "ghcr.io/o/app@sha256:" + strings.Repeat("0", 64),
	SourceURL: "https://github.com/o/app", CommitURL: "https://github.com/o/app/commit/" + strings.Repeat("0123456789", 4),
}

// subject is the first line of a rendered message, trimmed.
func subject(message string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(message), "\n")
	return strings.TrimSpace(line)
}

// OneLine folds text into one line, for a commit message or a pull
// request: each run of line breaks, other control characters and spaces
// becomes one space. What a person types (a rollback's reason) or a file
// holds (the image a manifest deployed) then stays inside the line it was
// put in, and cannot start a trailer of its own.
func OneLine(text string) string {
	return strings.Join(strings.FieldsFunc(text, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
	}), " ")
}

// messageData fills MessageData for a bump from the manifest's previous
// state.
func (o Options) messageData(previous, previousCommit string) MessageData {
	previous, previousCommit = OneLine(previous), OneLine(previousCommit)
	d := MessageData{
		Container: OneLine(o.Container), Action: OneLine(o.Action), Commit: o.SourceCommit,
		Image: o.Image, SourceURL: OneLine(strings.TrimSuffix(o.SourceURL, "/")),
		Previous: previous, PreviousCommit: previousCommit, Reason: OneLine(o.Reason), Environment: OneLine(o.Environment), SkipCI: o.SkipCI,
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
	if d.Action != "deploy" && !strings.EqualFold(previousCommit, o.SourceCommit) {
		switch {
		case len(previousCommit) >= 7:
			d.From = previousCommit[:7]
		case previous != "":
			d.From = imageTag(previous)
		}
	}
	return d
}

// Trailers are the bump's own record at the end of each commit message,
// one per line: Source-Commit (the full source commit, when known), Image
// (pinned by digest), Source (the commit's page), Environment, Reason. Their
// values are one line each (see OneLine), and they are the message's last
// paragraph, the one git reads trailers from.
func (d MessageData) Trailers() string {
	var b strings.Builder
	add := func(key, value string) {
		if value != "" {
			fmt.Fprintf(&b, "%s: %s\n", key, value)
		}
	}
	add("Source-Commit", d.Commit)
	add("Image", d.Pinned)
	add("Source", d.CommitURL)
	add("Environment", d.Environment)
	add("Reason", d.Reason)
	return b.String()
}

// message renders the commit message of the bump: the template, then the
// trailers.
func (o Options) message(previous, previousCommit string) (string, error) {
	t := o.messageTemplate
	if t == nil {
		var err error
		if t, err = ParseMessage(DefaultMessage); err != nil {
			return "", err
		}
	}
	d := o.messageData(previous, previousCommit)
	var b strings.Builder
	if err := t.Execute(&b, d); err != nil {
		return "", fmt.Errorf("render the commit message: %w", err)
	}
	text := strings.TrimSpace(b.String())
	if subject(text) == "" {
		return "", fmt.Errorf("render the commit message: BUMP_MESSAGE renders no subject for this bump (its first line is empty): start it with text that is always there")
	}
	return text + "\n\n" + d.Trailers(), nil
}

// tableCell is text as a cell of a markdown table shows it: on one line,
// its | escaped.
func tableCell(text string) string {
	return strings.ReplaceAll(OneLine(text), "|", "\\|")
}

// forBody returns o with what a person or the environment gave (the
// reason, who made the bump) made safe for the cells of the pull
// request's table.
func (o Options) forBody() Options {
	o.Reason, o.By, o.Container = tableCell(o.Reason), tableCell(o.By), OneLine(o.Container)
	return o
}
