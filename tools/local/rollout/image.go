package rollout

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/andrelair-platform/platform-demo/tools/internal/loopback"
)

// binary pulls spec.Image for this machine's platform and returns the path
// of its entrypoint, taken out of the image's layers, and the image's
// environment. Binaries are kept by digest, so rolling back to an image seen
// before pulls no layer.
func (r *Rollout) binary(ctx context.Context, spec Spec) (string, []string, error) {
	ref, err := name.ParseReference(spec.Image)
	if err != nil {
		return "", nil, fmt.Errorf("parse image %q: %w", spec.Image, err)
	}
	if !loopback.Host(ref.Context().RegistryStr()) {
		return "", nil, &RemoteImageError{Image: spec.Image}
	}
	platform := v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
	img, err := remote.Image(ref, remote.WithContext(ctx), remote.WithPlatform(platform), remote.WithAuthFromKeychain(authn.DefaultKeychain))
	if err != nil {
		return "", nil, fmt.Errorf("pull %s: %w (is the registry running? `mage publish` pushes there)", spec.Image, err)
	}
	digest, err := img.Digest()
	if err != nil {
		return "", nil, fmt.Errorf("digest of %s: %w", spec.Image, err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return "", nil, fmt.Errorf("config of %s: %w", spec.Image, err)
	}
	if len(cfg.Config.Entrypoint) == 0 {
		return "", nil, fmt.Errorf("image %s has no entrypoint to run", spec.Image)
	}
	entry := cfg.Config.Entrypoint[0]
	out := filepath.Join(r.opts.Dir, "bin", digest.Hex[:16]+"-"+path.Base(entry))
	if _, err := os.Stat(out); err == nil {
		return out, cfg.Config.Env, nil
	}
	if err := extract(img, entry, out); err != nil {
		return "", nil, fmt.Errorf("take %s out of %s: %w", entry, spec.Image, err)
	}
	return out, cfg.Config.Env, nil
}

// RemoteImageError reports an image outside a loopback registry. The local
// rollout only runs what the local loop published: it never reaches out to a
// public registry, which the machine may not even be allowed to contact.
type RemoteImageError struct {
	Image string
}

func (e *RemoteImageError) Error() string {
	return fmt.Sprintf("the manifest names %s, which is not in a loopback registry: the local rollout runs only images the local loop published (run `go tool mage ci`, or `go tool mage publish` then `go tool mage bump <ref>`)", e.Image)
}

// extract writes the file at path entry of img's flattened filesystem to out.
func extract(img v1.Image, entry, out string) error {
	rc := mutate.Extract(img)
	defer rc.Close()
	want := strings.TrimPrefix(path.Clean(entry), "/")
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return errors.New("no such file in the image")
		}
		if err != nil {
			return err
		}
		if strings.TrimPrefix(path.Clean(hdr.Name), "/") != want {
			continue
		}
		if hdr.Typeflag != tar.TypeReg {
			return fmt.Errorf("%s is not a regular file in the image", entry)
		}
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		// Write then rename, so a concurrent or interrupted extract never
		// leaves a half-written binary under the final name.
		tmp, err := os.CreateTemp(filepath.Dir(out), ".extract-*")
		if err != nil {
			return err
		}
		defer os.Remove(tmp.Name())
		if _, err := io.Copy(tmp, tr); err != nil {
			tmp.Close()
			return err
		}
		if err := tmp.Chmod(0o755); err != nil {
			tmp.Close()
			return err
		}
		if err := tmp.Close(); err != nil {
			return err
		}
		return os.Rename(tmp.Name(), out)
	}
}
