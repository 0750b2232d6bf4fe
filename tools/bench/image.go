package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/mod/modfile"

	"github.com/andrelair-platform/platform-demo/tools/buildinfo"
	"github.com/andrelair-platform/platform-demo/tools/local/registry"
	"github.com/andrelair-platform/platform-demo/tools/publish"
)

const publishGroup = "2 publish (image build + push to the embedded registry)"

// koModule is the module of the ko CLI compared against, at the version
// tools/go.mod requires: the same ko the publish library links.
const koModule = "github.com/google/ko"

// maxImageBytes is the goal for the compressed amd64 image.
const maxImageBytes = 6e6

// publisher holds what the publish runs share.
type publisher struct {
	b    *bencher
	ws   *workspace
	repo string
	ko   string // the ko CLI binary
}

// publish measures publish.Image, unchanged and after a one-line change,
// against the ko CLI doing the same (same registry, same base, same
// .ko.yaml) and against a warm go build.
func (b *bencher) publish(ctx context.Context) error {
	ws, err := b.workspace(ctx)
	if err != nil {
		return err
	}
	reg, err := registry.Start(ctx, registry.Options{
		Dir: filepath.Join(b.tmp, "publish-registry"), Addr: "127.0.0.1:0", Logger: b.opts.Logger,
	})
	if err != nil {
		return err
	}
	defer reg.Close()

	koVersion, err := requiredVersion(filepath.Join(ws.dir, "tools", "go.mod"), koModule)
	if err != nil {
		return err
	}
	// The CLI is built once, before any timing, from the tools module, so
	// that it is the version go.mod pins (offline: `go run ko@version` needs
	// the module proxy to check for deprecation).
	koBin := filepath.Join(b.tmp, "bin", "ko")
	if _, _, err := runCmd(ctx, filepath.Join(ws.dir, "tools"), nil, "go", "build", "-o", koBin, koModule); err != nil {
		return fmt.Errorf("build the ko CLI %s: %w", koVersion, err)
	}
	p := &publisher{b: b, ws: ws, repo: reg.Addr() + "/platform-demo", ko: koBin}

	// Untimed warm-up; publish goes first because it pushes the local base
	// the ko CLI then builds on.
	if _, _, err := p.library(ctx, true); err != nil {
		return err
	}
	if _, _, err := p.library(ctx, false); err != nil {
		return err
	}
	if _, _, err := p.cli(ctx, true); err != nil {
		return err
	}
	if _, _, err := p.cli(ctx, false); err != nil {
		return err
	}
	if _, err := p.goBuild(ctx); err != nil {
		return err
	}

	var libChanged, libSame, cliChanged, cliSame, builds, libSize, cliSize []float64
	for i := range b.opts.Runs {
		var lc, ls, cc, cs time.Duration
		var libRef, cliRef string
		var err error
		lib := func() error {
			if lc, libRef, err = p.library(ctx, true); err != nil {
				return err
			}
			ls, _, err = p.library(ctx, false)
			return err
		}
		cli := func() error {
			if cc, cliRef, err = p.cli(ctx, true); err != nil {
				return err
			}
			cs, _, err = p.cli(ctx, false)
			return err
		}
		first, second := lib, cli
		if i%2 == 1 {
			first, second = cli, lib
		}
		if err := first(); err != nil {
			return err
		}
		if err := second(); err != nil {
			return err
		}
		gb, err := p.goBuild(ctx)
		if err != nil {
			return err
		}
		libChanged, libSame = append(libChanged, seconds(lc)), append(libSame, seconds(ls))
		cliChanged, cliSame = append(cliChanged, seconds(cc)), append(cliSame, seconds(cs))
		builds = append(builds, seconds(gb))
		if i == 0 {
			n, err := compressedSize(ctx, libRef)
			if err != nil {
				return err
			}
			libSize = append(libSize, n)
			if n, err = compressedSize(ctx, cliRef); err != nil {
				return err
			}
			cliSize = append(cliSize, n)
		}
		b.progress(Publish, i, "publish changed %s unchanged %s, ko CLI changed %s unchanged %s, go build %s",
			lc.Round(time.Millisecond), ls.Round(time.Millisecond), cc.Round(time.Millisecond), cs.Round(time.Millisecond), gb.Round(time.Millisecond))
	}

	ko := "ko CLI " + koVersion
	cliChangedM := newMeasure(publishGroup, ko+" build, after a change", UnitSeconds, cliChanged, nil, nil).sub()
	cliSameM := newMeasure(publishGroup, ko+" build, unchanged tree", UnitSeconds, cliSame, nil, nil).sub()
	buildM := newMeasure(publishGroup, "warm go build, after a change", UnitSeconds, builds, nil, nil).sub()
	cliSizeM := newMeasure(publishGroup, "image size, "+ko, UnitBytes, cliSize, nil, nil).sub()
	b.add(
		newMeasure(publishGroup, "publish.Image after a change", UnitSeconds, libChanged, &cliChangedM, &Goal{OnRatio: true, Limit: 1.05}),
		newMeasure(publishGroup, "publish.Image after a change", UnitSeconds, libChanged, &buildM, &Goal{OnRatio: true, Limit: 1.5}),
		newMeasure(publishGroup, "publish.Image, unchanged tree", UnitSeconds, libSame, &cliSameM, &Goal{OnRatio: true, Limit: 1.05}),
		cliChangedM, cliSameM, buildM,
		newMeasure(publishGroup, "image size, amd64, compressed layers", UnitBytes, libSize, &cliSizeM, &Goal{Limit: maxImageBytes}),
		cliSizeM,
	)
	return nil
}

// library publishes HEAD with publish.Image, after a new one-line change
// when change is set.
func (p *publisher) library(ctx context.Context, change bool) (time.Duration, string, error) {
	info, err := p.head(ctx, change)
	if err != nil {
		return 0, "", err
	}
	start := time.Now()
	res, err := publish.Image(ctx, publish.Options{
		Dir: p.ws.dir, Main: "services/platform-demo", Repo: p.repo,
		Version: info.Version, Commit: info.Commit, CommitTime: info.Time,
		Base: publish.BaseLocal, Logger: p.b.opts.Logger,
	})
	if err != nil {
		return 0, "", err
	}
	return time.Since(start), res.Ref, nil
}

// cli publishes HEAD with the ko CLI, configured like publish.Image: the
// same .ko.yaml, ldflags, creation time, tags, registry and base.
func (p *publisher) cli(ctx context.Context, change bool) (time.Duration, string, error) {
	info, err := p.head(ctx, change)
	if err != nil {
		return 0, "", err
	}
	env := []string{
		"KO_DOCKER_REPO=" + p.repo,
		"KO_DEFAULTBASEIMAGE=" + p.repo + "/base:" + publish.LocalBaseTag,
		"LDFLAGS=" + buildinfo.LDFlags(info.Version, info.Commit),
		"SOURCE_DATE_EPOCH=" + strconv.FormatInt(info.Time.Unix(), 10),
	}
	d, out, err := runCmd(ctx, p.ws.dir, env, p.ko, "build", "--bare",
		"--tags="+info.Version+","+publish.LatestTag, "./services/platform-demo")
	if err != nil {
		return 0, "", fmt.Errorf("ko CLI: %w", err)
	}
	return d, strings.TrimSpace(string(out)), nil
}

// goBuild makes a one-line change and times a warm go build of it.
func (p *publisher) goBuild(ctx context.Context) (time.Duration, error) {
	if err := p.ws.change(ctx); err != nil {
		return 0, err
	}
	d, _, err := p.b.build(ctx, p.ws, filepath.Join(p.b.tmp, "bin", "gobuild"))
	return d, err
}

func (p *publisher) head(ctx context.Context, change bool) (buildinfo.Info, error) {
	if change {
		if err := p.ws.change(ctx); err != nil {
			return buildinfo.Info{}, err
		}
	}
	return buildinfo.Read(ctx, buildinfo.Options{Dir: p.ws.dir})
}

// compressedSize is the sum of the compressed layer sizes of the
// linux/amd64 image at ref: what a node pulls.
func compressedSize(ctx context.Context, ref string) (float64, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return 0, fmt.Errorf("image size: %w", err)
	}
	desc, err := remote.Get(r, remote.WithContext(ctx))
	if err != nil {
		return 0, fmt.Errorf("image size of %s: %w", ref, err)
	}
	var img v1.Image
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return 0, err
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return 0, err
		}
		for _, m := range im.Manifests {
			if m.Platform != nil && m.Platform.OS == "linux" && m.Platform.Architecture == "amd64" {
				if img, err = idx.Image(m.Digest); err != nil {
					return 0, err
				}
				break
			}
		}
		if img == nil {
			return 0, fmt.Errorf("image size of %s: no linux/amd64 image in the index", ref)
		}
	} else if img, err = desc.Image(); err != nil {
		return 0, err
	}
	m, err := img.Manifest()
	if err != nil {
		return 0, fmt.Errorf("image size of %s: %w", ref, err)
	}
	var n int64
	for _, l := range m.Layers {
		n += l.Size
	}
	return float64(n), nil
}

// requiredVersion returns the version of module that the go.mod at path
// requires.
func requiredVersion(path, module string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	f, err := modfile.ParseLax(path, b, nil)
	if err != nil {
		return "", fmt.Errorf("parse %s: %w", path, err)
	}
	for _, r := range f.Require {
		if r.Mod.Path == module {
			return r.Mod.Version, nil
		}
	}
	return "", fmt.Errorf("%s does not require %s", path, module)
}
