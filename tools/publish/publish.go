// Package publish builds the service into a container image with ko, used as
// a library, and pushes it to an OCI registry: the embedded local registry
// or any real one.
//
// Build settings come from .ko.yaml at the repository root. Image adds what
// only a build knows: the version and commit (through the {{.Env.LDFLAGS}}
// template of .ko.yaml), the commit time as the image's time, OCI labels and
// annotations, the tags, the platforms and the registry credentials.
package publish

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/ko/pkg/build"
	"github.com/sigstore/cosign/v3/pkg/oci"

	"github.com/andrelair-platform/platform-demo/tools/buildinfo"
)

// DefaultPlatform is built when neither Options nor .ko.yaml name platforms.
const DefaultPlatform = "linux/amd64"

// OCI annotation keys set on the image manifest (and index) and, with the
// same values, as labels in the image config.
const (
	AnnotationSource   = "org.opencontainers.image.source"
	AnnotationRevision = "org.opencontainers.image.revision"
	AnnotationVersion  = "org.opencontainers.image.version"
	AnnotationCreated  = "org.opencontainers.image.created"
)

// LatestTag is pushed beside the version tag.
const LatestTag = "latest"

// Options says what to build and where to push it.
type Options struct {
	// Dir is the repository root: it holds .ko.yaml and the go.work
	// workspace the service builds in.
	Dir string
	// Config is the build settings file (KO_CONFIG_PATH: a .ko.yaml, or a
	// directory holding one), relative to Dir; empty means Dir/.ko.yaml.
	Config string
	// Main is the main package to build, relative to Dir: a service's
	// directory, services/<name>. A builds entry of the settings for it
	// (its dir joined with its main) overrides the settings' defaults.
	Main string
	// Repo is the image repository, used exactly as given, without ko's
	// import-path naming: for example ghcr.io/andrelair-platform/platform-demo
	// or 127.0.0.1:5055/platform-demo.
	Repo string
	// Version is the short commit sha ("-dirty" included): the first tag and
	// main.version.
	Version string
	// Commit is the full commit sha: main.commit and the revision label.
	Commit string
	// CommitTime is the commit time, used as the time of the image and its
	// files (what SOURCE_DATE_EPOCH is to ko) and as the created label, so one
	// commit always gives one digest. Zero keeps the base's time and omits
	// the label.
	CommitTime time.Time
	// Source is the URL of the source repository for the source label, which
	// links a ghcr.io package to its repository. Empty omits the label.
	Source string
	// Platforms to build, such as linux/amd64 and linux/arm64; more than one
	// gives a multi-platform index. Empty uses .ko.yaml's defaultPlatforms,
	// else DefaultPlatform.
	Platforms []string
	// Base chooses the base image: empty for the one .ko.yaml names (the
	// production base, pinned by digest), BaseLocal for a minimal base built
	// in process and pushed to Repo + "/base", or an image reference.
	Base string
	// Username, when set, authenticates to Repo's registry with Password
	// (basic auth). Other registries, such as the base's, never see them.
	Username string
	// Password goes with Username. It never appears in errors.
	Password string
	// Keychain resolves credentials when Username is empty, and for the base
	// image's registry. Nil means authn.DefaultKeychain (the Docker config).
	Keychain authn.Keychain
	// Logger receives ko's progress lines at debug level. Nil discards them.
	Logger *slog.Logger
}

// Result describes a pushed image.
type Result struct {
	// Ref is repo:tag@sha256:..., the reference to deploy.
	Ref string
	// Repo is the repository pushed to.
	Repo string
	// Digest is the digest of the image, or of the index for several
	// platforms.
	Digest string
	// Tags are the tags pushed, the version tag first.
	Tags []string
	// Base is the base image the build used.
	Base string
}

// Image builds the service with ko as .ko.yaml describes it, stamps it with
// opts' version and commit, and pushes it to opts.Repo under the version tag
// and LatestTag: Build, then Push.
func Image(ctx context.Context, opts Options) (Result, error) {
	b, err := Build(ctx, opts)
	if err != nil {
		return Result{}, err
	}
	return b.Push(ctx)
}

// Built is an image that Build made and nobody pushed yet.
type Built struct {
	result     build.Result
	importPath string
	repo       name.Repository
	tags       []string
	base       string
	keychain   authn.Keychain
	transport  http.RoundTripper
	password   string
	logger     *slog.Logger
}

// Build builds the image and keeps it in memory, so that the pipeline can
// build while the tests run and push only once they pass. With BaseLocal,
// the base it builds on is pushed beside the image (ko needs it from a
// registry); the service's image is not pushed.
func Build(ctx context.Context, opts Options) (*Built, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	root, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("resolve repository root: %w", err)
	}
	main := opts.Main
	cfg, err := readConfig(configPath(root, opts.Config))
	if err != nil {
		return nil, err
	}
	tgt, err := cfg.targetFor(root, main)
	if err != nil {
		return nil, err
	}
	platforms, err := choosePlatforms(opts.Platforms, cfg.DefaultPlatforms)
	if err != nil {
		return nil, err
	}
	repo, err := name.NewRepository(opts.Repo)
	if err != nil {
		return nil, fmt.Errorf("image repository %q: %w; set KO_DOCKER_REPO to a repository such as ghcr.io/owner/name", opts.Repo, err)
	}
	fallback := opts.Keychain
	if fallback == nil {
		fallback = authn.DefaultKeychain
	}
	kc := Keychain(repo.RegistryStr(), opts.Username, opts.Password, fallback)
	tr := Transport(remote.DefaultTransport)
	ropts := []remote.Option{
		remote.WithAuthFromKeychain(kc),
		remote.WithTransport(tr),
		remote.WithUserAgent(userAgent()),
		remote.WithContext(ctx),
	}

	baseRef := opts.Base
	if baseRef == "" {
		baseRef = tgt.base
	}
	var getBase build.GetBase
	if baseRef == BaseLocal {
		tag := repo.Registry.Repo(repo.RepositoryStr(), "base").Tag(LocalBaseTag)
		baseRef = tag.String()
		getBase = localBaseGetter(tag, platforms, ropts, opts.Password, logger)
	} else {
		getBase = remoteBaseGetter(baseRef, ropts, opts.Password)
	}

	// The template in .ko.yaml reads LDFLAGS from the build's environment;
	// setting it in the builds entry keeps the process environment untouched.
	bc := tgt.config
	bc.Env = append(bc.Env, ldflagsVar+"="+buildinfo.LDFlags(opts.Version, opts.Commit))

	bopts := []build.Option{
		build.WithPlatforms(platforms...),
		build.WithBaseImages(getBase),
		build.WithConfig(map[string]build.Config{tgt.importPath: bc}),
		build.WithSPDX(koVersion()),
	}
	if !opts.CommitTime.IsZero() {
		t := v1.Time{Time: opts.CommitTime.UTC()}
		bopts = append(bopts, build.WithCreationTime(t), build.WithKoDataCreationTime(t))
	}
	for k, v := range metadata(opts) {
		bopts = append(bopts, build.WithLabel(k, v), build.WithAnnotation(k, v))
	}

	restore := redirectStdLog(logger)
	defer restore()
	b, err := build.NewGo(ctx, tgt.dir, bopts...)
	if err != nil {
		return nil, fmt.Errorf("set up the ko build of %s: %w", tgt.importPath, err)
	}
	res, err := b.Build(ctx, build.StrictScheme+tgt.importPath)
	if err != nil {
		var re *registryError
		if errors.As(err, &re) {
			return nil, re
		}
		return nil, fmt.Errorf("build %s: %w", tgt.importPath, err)
	}
	return &Built{
		result: res, importPath: tgt.importPath, repo: repo,
		tags: []string{opts.Version, LatestTag}, base: baseRef,
		keychain: kc, transport: tr, password: opts.Password, logger: logger,
	}, nil
}

// Push pushes the built image (or index) under its tags, then the SBOM of
// each image, and returns its reference by digest.
//
// It pushes with go-containerregistry's remote package, as ko's own
// publisher does, and as ko does, writes each SBOM beside its image under
// the tag sha256-<digest>.sbom. ko's publisher package is not used: for
// the same pushes it links kind's and Docker's clients (93 packages that
// every build of the tools, and every lint of them, would compile and
// check).
func (b *Built) Push(ctx context.Context) (Result, error) {
	p, err := remote.NewPusher(
		remote.WithAuthFromKeychain(b.keychain),
		remote.WithTransport(b.transport),
		remote.WithUserAgent(userAgent()),
	)
	if err != nil {
		return Result{}, fmt.Errorf("set up the push to %s: %w", b.repo, err)
	}
	h, err := b.result.Digest()
	if err != nil {
		return Result{}, fmt.Errorf("push %s: the image's digest: %w", b.repo, err)
	}
	for _, tag := range b.tags {
		if err := p.Push(ctx, b.repo.Tag(tag), b.result); err != nil {
			return Result{}, classify("push "+b.repo.String(), b.repo.RegistryStr(), err, b.password)
		}
		b.logger.Debug("pushed", "image", b.repo.Tag(tag).String()+"@"+h.String())
	}
	if err := b.pushSBOMs(ctx, p); err != nil {
		return Result{}, classify("push the SBOM of "+b.repo.String(), b.repo.RegistryStr(), err, b.password)
	}
	return Result{
		Ref:    fmt.Sprintf("%s:%s@%s", b.repo, b.tags[0], h),
		Repo:   b.repo.String(),
		Digest: h.String(),
		Tags:   b.tags,
		Base:   b.base,
	}, nil
}

// pushSBOMs pushes the SBOM ko attached to the image, or to each image of
// the index, under the tag sigstore's tools look for: sha256-<digest>.sbom.
func (b *Built) pushSBOMs(ctx context.Context, p *remote.Pusher) error {
	entities := []oci.SignedEntity{}
	switch r := b.result.(type) {
	case oci.SignedImageIndex:
		entities = append(entities, r)
		im, err := r.IndexManifest()
		if err != nil {
			return err
		}
		for _, d := range im.Manifests {
			img, err := r.SignedImage(d.Digest)
			if err != nil {
				return err
			}
			entities = append(entities, img)
		}
	case oci.SignedImage:
		entities = append(entities, r)
	}
	for _, e := range entities {
		f, err := e.Attachment("sbom")
		if err != nil {
			continue // this level has none (an index may not)
		}
		h, err := e.Digest()
		if err != nil {
			return err
		}
		if err := p.Push(ctx, b.repo.Tag(SBOMTag(h)), f); err != nil {
			return err
		}
		b.logger.Debug("pushed the SBOM", "image", b.repo.Tag(SBOMTag(h)).String())
	}
	return nil
}

// SBOMTag is the tag an image's SBOM is pushed under: sha256-<hex>.sbom.
func SBOMTag(h v1.Hash) string { return h.Algorithm + "-" + h.Hex + ".sbom" }

func (o Options) validate() error {
	var missing []string
	for _, f := range []struct{ name, v string }{
		{"Dir", o.Dir}, {"Repo", o.Repo}, {"Version", o.Version}, {"Commit", o.Commit},
	} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("publish: missing %s", strings.Join(missing, ", "))
	}
	return CheckCredentials(o.Username, o.Password)
}

// CheckCredentials refuses a registry login that cannot work, before
// anything is sent: a password without a username, or the other way round.
func CheckCredentials(username, password string) error {
	if password != "" && username == "" {
		return errors.New("publish: a registry password without a username; set REGISTRY_USERNAME too")
	}
	if username != "" && password == "" {
		return fmt.Errorf("publish: REGISTRY_USERNAME %q is set but REGISTRY_PASSWORD is empty: set it (in Actions: the job's GITHUB_TOKEN), or unset both to use the Docker config's login", username)
	}
	return nil
}

// metadata returns the OCI annotations, also used as labels.
func metadata(o Options) map[string]string {
	m := map[string]string{
		AnnotationRevision: o.Commit,
		AnnotationVersion:  o.Version,
	}
	if o.Source != "" {
		m[AnnotationSource] = o.Source
	}
	if !o.CommitTime.IsZero() {
		m[AnnotationCreated] = o.CommitTime.UTC().Format(time.RFC3339)
	}
	return m
}

func choosePlatforms(fromOptions, fromConfig []string) ([]string, error) {
	platforms := fromOptions
	if len(platforms) == 0 {
		platforms = fromConfig
	}
	if len(platforms) == 0 {
		platforms = []string{DefaultPlatform}
	}
	var out []string
	for _, p := range platforms {
		for _, s := range strings.Split(p, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			if _, err := v1.ParsePlatform(s); err != nil || s == "all" {
				return nil, fmt.Errorf("platform %q: want os/arch[/variant], such as linux/arm64", s)
			}
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no platforms to build; set PLATFORMS to, for example, linux/amd64,linux/arm64")
	}
	return out, nil
}

// localBaseGetter builds the local base for platforms, pushes it beside the
// service and hands it to ko.
func localBaseGetter(tag name.Tag, platforms []string, ropts []remote.Option, secret string, logger *slog.Logger) build.GetBase {
	return func(context.Context, string) (name.Reference, build.Result, error) {
		var plats []v1.Platform
		for _, s := range platforms {
			p, err := v1.ParsePlatform(s)
			if err != nil {
				return nil, nil, err
			}
			if p.OS != "linux" {
				return nil, nil, fmt.Errorf("local base: platform %s is not linux", s)
			}
			plats = append(plats, *p)
		}
		ca, err := readCABundle()
		if err != nil {
			return nil, nil, err
		}
		if ca == nil {
			logger.Warn("the local base has no CA certificates: the host has no " + hostCABundle)
		}
		idx, err := localBase(plats, ca)
		if err != nil {
			return nil, nil, err
		}
		if err := remote.WriteIndex(tag, idx, ropts...); err != nil {
			return nil, nil, classify("push the local base "+tag.String(), tag.RegistryStr(), err, secret)
		}
		return tag, idx, nil
	}
}

// remoteBaseGetter fetches ref (an index or an image) from its registry.
func remoteBaseGetter(ref string, ropts []remote.Option, secret string) build.GetBase {
	return func(context.Context, string) (name.Reference, build.Result, error) {
		r, err := name.ParseReference(ref)
		if err != nil {
			return nil, nil, fmt.Errorf("base image %q: %w", ref, err)
		}
		desc, err := remote.Get(r, ropts...)
		if err != nil {
			return nil, nil, classify("pull the base image "+r.String(), r.Context().RegistryStr(), err, secret)
		}
		if desc.MediaType.IsIndex() {
			idx, err := desc.ImageIndex()
			return r, idx, err
		}
		img, err := desc.Image()
		return r, img, err
	}
}

// stdLog is the redirect of the standard logger, through which ko reports
// progress: process-wide state that builds running side by side share.
var stdLog struct {
	sync.Mutex
	users  int
	out    io.Writer
	flags  int
	prefix string
	logger *slog.Logger
}

// redirectStdLog sends the standard logger to logger at debug level until
// the returned function restores it. Builds side by side share one
// redirect, to the first one's logger: ko names the package on each line.
func redirectStdLog(logger *slog.Logger) (restore func()) {
	stdLog.Lock()
	defer stdLog.Unlock()
	if stdLog.users == 0 {
		stdLog.out, stdLog.flags, stdLog.prefix = log.Writer(), log.Flags(), log.Prefix()
		log.SetOutput(logWriter{logger})
		log.SetFlags(0)
		log.SetPrefix("")
	}
	stdLog.users++
	var once sync.Once
	return func() {
		once.Do(func() {
			stdLog.Lock()
			defer stdLog.Unlock()
			if stdLog.users--; stdLog.users == 0 {
				log.SetOutput(stdLog.out)
				log.SetFlags(stdLog.flags)
				log.SetPrefix(stdLog.prefix)
			}
		})
	}
}

type logWriter struct{ logger *slog.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	w.logger.Debug(strings.TrimRight(string(p), "\n"), "component", "ko")
	return len(p), nil
}

// koVersion is the version of the ko library linked in, recorded in SBOMs.
func koVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/google/ko" {
				return d.Version
			}
		}
	}
	return "unknown"
}

func userAgent() string { return "platform-demo-publish ko/" + koVersion() }
