package rollout

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Spec is what the local rollout runs: one container of a Deployment.
type Spec struct {
	// Image is the container's image reference.
	Image string
	// Env holds the container's literal environment as KEY=value.
	Env []string
	// Args are the container's args, passed to the image's entrypoint.
	Args []string
}

// SpecFromManifest finds the named container of the Deployment in a
// (possibly multi-document) manifest.
func SpecFromManifest(manifest []byte, container string) (Spec, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(manifest)))
	var found []string
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Spec{}, fmt.Errorf("read manifest: %w", err)
		}
		var d appsv1.Deployment
		if err := yaml.Unmarshal(doc, &d); err != nil {
			return Spec{}, fmt.Errorf("decode manifest: %w", err)
		}
		if d.Kind != "Deployment" {
			continue
		}
		for _, c := range d.Spec.Template.Spec.Containers {
			found = append(found, c.Name)
			if c.Name != container {
				continue
			}
			if len(c.Command) > 0 {
				return Spec{}, fmt.Errorf("container %q sets command, which the local rollout does not run: it runs the image's entrypoint with args", container)
			}
			s := Spec{Image: c.Image, Args: c.Args}
			for _, e := range c.Env {
				if e.ValueFrom != nil {
					return Spec{}, fmt.Errorf("env %s of container %q uses valueFrom, which the local rollout cannot resolve: give it a literal value", e.Name, container)
				}
				s.Env = append(s.Env, e.Name+"="+e.Value)
			}
			if s.Image == "" {
				return Spec{}, fmt.Errorf("container %q has no image", container)
			}
			return s, nil
		}
	}
	if len(found) == 0 {
		return Spec{}, errors.New("no Deployment in the manifest")
	}
	return Spec{}, fmt.Errorf("container %q not found in the Deployment (found: %s): set GITOPS_CONTAINER", container, strings.Join(found, ", "))
}
