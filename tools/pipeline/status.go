package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/andrelair-platform/platform-demo/tools/argocd"
	"github.com/andrelair-platform/platform-demo/tools/config"
	"github.com/andrelair-platform/platform-demo/tools/internal/secret"
	"github.com/andrelair-platform/platform-demo/tools/local/rollout"
	"github.com/andrelair-platform/platform-demo/tools/verify"
)

// ProbeTimeout bounds each probe of `mage status`: a service, registry or
// Argo CD that does not answer in time is reported, not waited for.
const ProbeTimeout = 5 * time.Second

// Verdicts of an environment's status.
const (
	// InSync: the live service runs the commit the manifest deploys.
	InSync = "in sync"
	// Deploying: it runs another commit, and the manifest changed recently
	// (less than VERIFY_TIMEOUT ago) or Argo CD is still at work.
	Deploying = "deploying"
	// Drifted: git and the live service disagree, and nothing is at work
	// to make them agree.
	Drifted = "drifted"
	// Unreachable: the service (or the gitops repository) did not answer.
	Unreachable = "unreachable"
	// Unknown: there is no address to ask the service at.
	Unknown = "unknown"
	// Unreadable: the manifest cannot be read (not YAML, empty, no such
	// container): what git deploys is not known.
	Unreadable = "unreadable"
)

// TargetStatus is what `mage status` knows of one service in one
// environment.
type TargetStatus struct {
	Service     string `json:"service"`
	Environment string `json:"environment"`
	// Path and Branch locate the manifest in the gitops repository.
	Path   string `json:"path"`
	Branch string `json:"branch"`
	// Image and SourceCommit are what the manifest deploys; GitopsCommit is
	// the gitops commit that last changed it, at GitopsTime.
	Image        string    `json:"image,omitempty"`
	SourceCommit string    `json:"sourceCommit,omitempty"`
	GitopsCommit string    `json:"gitopsCommit,omitempty"`
	GitopsURL    string    `json:"gitopsURL,omitempty"`
	GitopsTime   time.Time `json:"gitopsTime,omitzero"`
	GitopsError  string    `json:"gitopsError,omitempty"`
	// ManifestError says why the manifest cannot be read, and the fix.
	ManifestError string `json:"manifestError,omitempty"`
	// ImageFound says the registry holds Image, ImageMissing that it
	// answered it does not; ImageError says why, or why it could not tell.
	ImageFound   bool   `json:"imageFound"`
	ImageMissing bool   `json:"imageMissing,omitempty"`
	ImageError   string `json:"imageError,omitempty"`
	// ImageNote says why the registry was not asked.
	ImageNote string `json:"imageNote,omitempty"`
	// URL is where /version was asked, without the credentials it may
	// carry; Live the commit it reported, running since LiveSince when the
	// service says.
	URL       string    `json:"url,omitempty"`
	Live      string    `json:"liveCommit,omitempty"`
	LiveSince time.Time `json:"liveSince,omitzero"`
	LiveError string    `json:"liveError,omitempty"`
	// Soak is the verdict of the soak the manifest records on Image; nil
	// when none is. LastSoak is the newest verdict it records, on Image or
	// on another (a version that failed and was rolled back).
	Soak     *Verdict `json:"soak,omitempty"`
	LastSoak *Verdict `json:"lastSoak,omitempty"`
	// Argo is Argo CD's view of the environment's application, when
	// configured.
	Argo      *argocd.AppStatus `json:"argocd,omitempty"`
	ArgoError string            `json:"argocdError,omitempty"`
	// Verdict is one of InSync, Deploying, Drifted, Unreachable, Unknown;
	// Why explains it.
	Verdict string `json:"verdict"`
	Why     string `json:"why"`
}

// Status is the state of every service in every environment.
type Status struct {
	Mode string `json:"mode"`
	// Targets are in service order, each service's environments in order.
	Targets []TargetStatus `json:"targets"`
}

// Bad lists the targets that are drifted, unreachable or unreadable,
// "service in environment is verdict", for the error a failing status
// returns.
func (st Status) Bad() []string {
	var bad []string
	for _, t := range st.Targets {
		if !t.Healthy() {
			bad = append(bad, t.Service+" in "+t.Environment+" is "+t.Verdict)
		}
	}
	return bad
}

// Healthy reports whether the target is not drifted, unreachable or
// unreadable: what `mage status` exits 1 for.
func (t TargetStatus) Healthy() bool {
	return t.Verdict != Drifted && t.Verdict != Unreachable && t.Verdict != Unreadable
}

// ReadStatus asks, for every service (or only svc) in every environment at
// once, the gitops repository what its manifest deploys, the registry
// whether the image is there, the service what it runs, and Argo CD what it
// thinks; each probe is bounded by ProbeTimeout. It changes nothing that is
// deployed, and it reads the local rollouts without starting them.
func ReadStatus(ctx context.Context, s config.Settings, svc string, logger *slog.Logger) (Status, error) {
	p := New(s, logger)
	defer p.Close(context.WithoutCancel(ctx))
	var targets []config.Target
	for _, e := range s.Environments {
		ts, err := s.Targets(e.Name, svc)
		if err != nil {
			return Status{}, err
		}
		targets = append(targets, ts...)
	}
	// Service-major: a service's environments side by side in the table.
	slices.SortStableFunc(targets, func(a, b config.Target) int { return strings.Compare(a.Service.Name, b.Service.Name) })
	out := Status{Mode: s.Mode(), Targets: make([]TargetStatus, len(targets))}
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() { out.Targets[i] = p.Deployment(t).status(ctx) })
	}
	wg.Wait()
	return out, nil
}

// status reads the target's state, its probes side by side.
func (d *Deployment) status(ctx context.Context) TargetStatus {
	p, s, t := d.p, d.p.s, d.t
	url := d.VerifyURL()
	st := TargetStatus{Service: t.Service.Name, Environment: t.Environment, Path: t.Path, Branch: t.Branch, URL: secret.URL(url)}
	var wg sync.WaitGroup
	probe := func(fn func(context.Context)) {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
			defer cancel()
			fn(ctx)
		})
	}
	probe(func(ctx context.Context) {
		revs, err := d.History(ctx, 1)
		switch {
		case err != nil:
			st.GitopsError = err.Error()
			return
		case len(revs) == 0:
			st.GitopsError = "no commit has changed " + t.Path + " on " + t.Branch
			return
		}
		cur := revs[0]
		st.Image, st.SourceCommit, st.GitopsCommit, st.GitopsURL, st.GitopsTime = cur.Image, cur.SourceCommit, cur.Commit, cur.URL, cur.Time
		vs := ReadVerdicts(cur.Annotations)
		st.Soak, st.LastSoak = vs.Of(cur.Image), vs.Last()
		if cur.Problem != nil {
			st.ManifestError = d.manifestError(cur).Error()
			return
		}
		if cur.Image == "" {
			return
		}
		if !d.ownRegistry(cur.Image) {
			// The seed's placeholder, or an image pushed elsewhere by hand:
			// status asks the registry the pipeline pushes to, and only it.
			st.ImageNote = "not checked: not on the registry images are pushed to (" + p.s.ImageRepo(t.Service.Name) + ")"
			return
		}
		var remote *RemoteRegistryError
		switch err := p.CheckImage(ctx, cur.Image); {
		case errors.As(err, &remote):
			// The template's public image, before the first local deploy.
			st.ImageNote = "not checked: the local loop uses its own registry only"
		case err != nil:
			st.ImageError, st.ImageMissing = err.Error(), errors.Is(err, ErrImageMissing)
		default:
			st.ImageFound = true
		}
	})
	if st.URL != "" {
		probe(func(ctx context.Context) {
			v, err := verify.Probe(ctx, nil, url)
			if err != nil {
				st.LiveError = err.Error()
				if s.LocalGitops() && t.VerifyURL == "" {
					st.LiveError += " (" + d.localHint(ctx, err) + ")"
				}
				return
			}
			st.Live, st.LiveSince = strings.ToLower(v.Commit), v.Started
		})
	}
	if s.ArgoConfigured(t) {
		probe(func(ctx context.Context) {
			app, err := argocd.Status(ctx, argocd.Options{Server: s.ArgoServer, Token: s.ArgoToken, App: t.ArgoApp})
			if err != nil {
				st.ArgoError = err.Error()
				return
			}
			st.Argo = &app
		})
	}
	wg.Wait()
	st.Verdict, st.Why = verdict(st, s.VerifyTimeout, time.Now())
	if st.URL == "" && st.Verdict == Unknown {
		st.Why = "no address to ask: set " + t.Var("VERIFY_URL") + " (or verifyURL in " + config.EnvironmentsFile + ")"
	}
	return st
}

// ownRegistry reports whether image is on the registry the pipeline pushes
// the service's images to.
func (d *Deployment) ownRegistry(image string) bool {
	ref, err := name.ParseReference(image)
	if err != nil {
		return false
	}
	own, err := name.NewRepository(d.p.s.ImageRepo(d.t.Service.Name))
	if err != nil {
		return false
	}
	return ref.Context().RegistryStr() == own.RegistryStr()
}

// localHint says why the target's local rollout did not answer its
// /version, from whether a `mage local` serves it.
func (d *Deployment) localHint(ctx context.Context, err error) string {
	var answer *verify.AnswerError
	switch {
	case !rollout.Serving(ctx, d.t.LocalAddr):
		return "nothing serves it: the local rollouts run while `go tool mage local` does"
	case errors.As(err, &answer) && answer.Code == http.StatusServiceUnavailable:
		deploy := "go tool mage ci"
		if !d.t.First() {
			deploy = "go tool mage promote " + d.t.Environment + " -service=" + d.t.Service.Name
		}
		return "`go tool mage local` serves it, and has rolled out nothing there yet: " + deploy + " deploys it"
	}
	return "`go tool mage local` serves it: its log says why the version it rolled out does not answer"
}

// verdict judges an environment from what its probes found; settle is how
// long after a bump a different live commit still counts as deploying.
func verdict(st TargetStatus, settle time.Duration, now time.Time) (string, string) {
	switch {
	case st.GitopsError != "":
		return Unreachable, "gitops: " + st.GitopsError
	case st.ManifestError != "":
		return Unreadable, st.ManifestError
	case st.URL == "":
		return Unknown, "no address to ask"
	case st.LiveError != "":
		return Unreachable, "service: " + st.LiveError
	case st.SourceCommit == "":
		return Unknown, "the manifest records no source commit to compare with"
	case st.Live == st.SourceCommit && st.ImageError != "":
		return InSync, "the manifest's commit answers; but " + st.ImageError
	case st.Live == st.SourceCommit:
		return InSync, "the manifest's commit answers"
	case st.ImageMissing:
		// Nothing can ever pull what git asks for.
		return Drifted, fmt.Sprintf("%s answers instead of %s, and %s", short(st.Live), short(st.SourceCommit), st.ImageError)
	}
	if a := st.Argo; a != nil && (a.Sync == "OutOfSync" || a.Health == "Progressing" || a.Operation == "Running") {
		return Deploying, fmt.Sprintf("%s answers; Argo CD is at work on %s (%s, %s)", short(st.Live), short(st.SourceCommit), a.Sync, a.Health)
	}
	if age := now.Sub(st.GitopsTime); st.Argo == nil && age < settle {
		return Deploying, fmt.Sprintf("%s answers; %s was committed %s ago, less than VERIFY_TIMEOUT (%s)", short(st.Live), short(st.SourceCommit), age.Round(time.Second), settle)
	}
	return Drifted, fmt.Sprintf("%s answers, but git has deployed %s since %s", short(st.Live), short(st.SourceCommit), st.GitopsTime.Format(time.RFC3339))
}

// Text renders the status as a table, a row per service in each
// environment, then, for each row that is not in sync, the details that
// say why.
func (st Status) Text(now time.Time) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "SERVICE\tENVIRONMENT\tVERDICT\tDEPLOYS\tLIVE\tSINCE\tSOAK\tADDRESS\n")
	for _, e := range st.Targets {
		live := "-"
		switch {
		case e.LiveError != "":
			live = "no answer"
		case e.Live != "":
			live = short(e.Live)
		}
		since := "-"
		if !e.LiveSince.IsZero() {
			since = ago(now, e.LiveSince)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Service, e.Environment, e.Verdict, orDash(short(e.SourceCommit)), live, since, e.soakCell(), orDash(e.URL))
	}
	tw.Flush()
	for _, e := range st.Targets {
		if l := e.LastSoak; l != nil && l.Result == VerdictFailed && l != e.Soak {
			fmt.Fprintf(&b, "\n%s in %s: %s failed its soak %s ago, and %s runs instead: %s\n", e.Service, e.Environment, short(l.Commit), ago(now, l.At), orDash(short(e.SourceCommit)), l.Detail)
		}
		if e.Verdict == InSync {
			continue
		}
		fmt.Fprintf(&b, "\n%s in %s: %s\n", e.Service, e.Environment, e.Verdict)
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		row := func(label, value string) { fmt.Fprintf(tw, "  %s\t%s\n", label, value) }
		row("why", e.Why)
		row("manifest", e.Branch+":"+e.Path)
		if e.GitopsCommit != "" {
			row("deploys", fmt.Sprintf("%s  %s", orDash(short(e.SourceCommit)), e.Image))
			row("since", strings.TrimSpace(fmt.Sprintf("gitops %s, %s ago  %s", short(e.GitopsCommit), ago(now, e.GitopsTime), e.GitopsURL)))
		}
		switch {
		case e.ImageFound:
			row("registry", "has the image")
		case e.ImageError != "":
			row("registry", e.ImageError)
		case e.ImageNote != "":
			row("registry", e.ImageNote)
		}
		live := "-"
		switch {
		case e.LiveError != "":
			live = "no answer"
		case e.Live != "" && !e.LiveSince.IsZero():
			live = fmt.Sprintf("%s, up since %s (%s ago)", short(e.Live), e.LiveSince.Local().Format(time.DateTime), ago(now, e.LiveSince))
		case e.Live != "":
			live = short(e.Live)
		}
		row("live", orDash(e.URL)+"  "+live)
		switch {
		case e.ArgoError != "":
			row("argo cd", e.ArgoError)
		case e.Argo != nil:
			row("argo cd", fmt.Sprintf("%s, %s at %s", e.Argo.Sync, e.Argo.Health, short(e.Argo.Revision)))
		}
		tw.Flush()
	}
	return b.String()
}

// soakCell is the SOAK column: the verdict on what the manifest deploys.
func (t TargetStatus) soakCell() string {
	switch {
	case t.Soak != nil:
		return t.Soak.Result
	case t.Image == "":
		return "-"
	}
	return "none"
}

// ago says how long ago t was, to the unit that matters.
func ago(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
