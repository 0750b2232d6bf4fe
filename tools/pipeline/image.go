package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/andrelair-platform/platform-demo/tools/internal/loopback"
	"github.com/andrelair-platform/platform-demo/tools/publish"
)

// CheckImage makes sure image exists in its registry, so that a bump by hand
// cannot deploy a reference nothing can pull. In the local loop it starts
// (or attaches to) the embedded registry to ask it.
func (p *Pipeline) CheckImage(ctx context.Context, image string) error {
	ref, opts, err := p.remote(ctx, image)
	if err != nil {
		return err
	}
	_, err = remote.Head(ref, opts...)
	return imageError(ref, err)
}

// Pin returns image pinned by digest, as every write of the gitops
// repository deploys it: as it is when it names a digest, else with its
// tag resolved in its registry (repo:tag@sha256:...), so that what was
// checked is what runs, however the tag moves later.
func (p *Pipeline) Pin(ctx context.Context, image string) (string, error) {
	if ref, err := name.ParseReference(image); err == nil {
		if _, digest := ref.(name.Digest); digest {
			return image, nil
		}
	}
	ref, opts, err := p.remote(ctx, image)
	if err != nil {
		return "", fmt.Errorf("pin %s to a digest: %w; or give the image by digest (repo@sha256:...)", image, err)
	}
	tag := ref.(name.Tag)
	desc, err := remote.Head(ref, opts...)
	if err != nil {
		return "", fmt.Errorf("pin %s to a digest: %w", image, imageError(ref, err))
	}
	return tag.Context().Name() + ":" + tag.TagStr() + "@" + desc.Digest.String(), nil
}

// ImageRevision is the source commit image was built from, as its
// org.opencontainers.image.revision annotation says; "" when it has none.
func (p *Pipeline) ImageRevision(ctx context.Context, image string) (string, error) {
	ref, opts, err := p.remote(ctx, image)
	if err != nil {
		return "", err
	}
	desc, err := remote.Get(ref, opts...)
	if err != nil {
		return "", imageError(ref, err)
	}
	var m struct {
		Annotations map[string]string `json:"annotations"`
	}
	if err := json.Unmarshal(desc.Manifest, &m); err != nil {
		return "", fmt.Errorf("read the manifest of %s: %w", image, err)
	}
	return strings.ToLower(m.Annotations[publish.AnnotationRevision]), nil
}

// remote parses image and returns the options that reach its registry
// with the credentials that belong to it.
func (p *Pipeline) remote(ctx context.Context, image string) (name.Reference, []remote.Option, error) {
	ref, err := name.ParseReference(image)
	if err != nil {
		return nil, nil, fmt.Errorf("image %q: %w; want repo:tag@sha256:..., as mage publish prints it", image, err)
	}
	if p.s.LocalRegistry() {
		// The local loop talks to its own registry only: the seed
		// manifests name public images this machine need not reach.
		if !loopback.Host(ref.Context().RegistryStr()) {
			return nil, nil, &RemoteRegistryError{Image: image}
		}
		if ref.Context().RegistryStr() == p.s.RegistryAddr {
			if _, err := p.registry(ctx); err != nil {
				return nil, nil, err
			}
		}
	}
	// REGISTRY_USERNAME and REGISTRY_PASSWORD belong to the registry images
	// are pushed to: a reference typed by hand that names another registry
	// gets the Docker config's login for that one, as publish would.
	configured := ""
	if repo, err := name.NewRepository(p.s.ImageRepo("x")); err == nil {
		configured = repo.RegistryStr()
	}
	kc := publish.Keychain(configured, p.s.RegistryUsername, p.s.RegistryPassword, authn.DefaultKeychain)
	return ref, []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(kc), remote.WithTransport(publish.Transport(nil))}, nil
}

// ErrImageMissing means the registry answered that it does not hold the
// image.
var ErrImageMissing = errors.New("is not in its registry")

// RemoteRegistryError refuses, in the local loop, an image on a registry
// other than one on this machine.
type RemoteRegistryError struct{ Image string }

func (e *RemoteRegistryError) Error() string {
	return fmt.Sprintf("image %s is not on this machine: the local loop uses its own registry only; set KO_DOCKER_REPO to work with a remote one", e.Image)
}

// imageError explains a registry's answer about ref.
func imageError(ref name.Reference, err error) error {
	if err == nil {
		return nil
	}
	var te *transport.Error
	if errors.As(err, &te) && te.StatusCode == http.StatusNotFound {
		return fmt.Errorf("image %s %w: publish it first (go tool mage publish prints the ref to bump)", ref, ErrImageMissing)
	}
	return fmt.Errorf("check image %s in %s: %w", ref, ref.Context().RegistryStr(), redactTransport(err))
}

// redactTransport keeps only the status of a registry error: its full text
// can quote request URLs, which is not where a secret belongs, but is long.
func redactTransport(err error) error {
	var te *transport.Error
	if errors.As(err, &te) {
		return fmt.Errorf("registry answered %d %s", te.StatusCode, http.StatusText(te.StatusCode))
	}
	return err
}
