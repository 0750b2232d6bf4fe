package rollout

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"

	"github.com/andrelair-platform/platform-demo/tools/internal/inputs"
	"github.com/andrelair-platform/platform-demo/tools/internal/inputstest"
)

// TestResourceFieldValue guards the local rollout against running the
// service with an environment the kubelet would not give it: each value is
// the one Kubernetes computes (bytes or millicores, divided, rounded up).
func TestResourceFieldValue(t *testing.T) {
	res := func(requests, limits map[corev1.ResourceName]string) corev1.ResourceRequirements {
		r := corev1.ResourceRequirements{Requests: corev1.ResourceList{}, Limits: corev1.ResourceList{}}
		for k, v := range requests {
			r.Requests[k] = resource.MustParse(v)
		}
		for k, v := range limits {
			r.Limits[k] = resource.MustParse(v)
		}
		return r
	}
	pod := corev1.PodSpec{
		Containers: []corev1.Container{
			{Name: "web", Resources: res(
				map[corev1.ResourceName]string{"cpu": "10m", "memory": "32Mi"},
				map[corev1.ResourceName]string{"cpu": "500m", "memory": "64Mi", "ephemeral-storage": "1G"})},
			{Name: "sidecar", Resources: res(nil, map[corev1.ResourceName]string{"cpu": "1500m", "memory": "128Mi"})},
			{Name: "bare"},
		},
		InitContainers: []corev1.Container{{Name: "init", Resources: res(nil, map[corev1.ResourceName]string{"memory": "16Mi"})}},
	}
	tests := []struct {
		name      string
		container string
		ref       corev1.ResourceFieldSelector
		want      string
		wantErr   string
	}{
		{name: "memory limit in bytes", container: "web", ref: corev1.ResourceFieldSelector{Resource: "limits.memory"}, want: "67108864"},
		{name: "named container is itself", container: "web", ref: corev1.ResourceFieldSelector{ContainerName: "web", Resource: "limits.memory"}, want: "67108864"},
		{name: "divisor 1 is the default", container: "web", ref: corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1")}, want: "67108864"},
		{name: "memory in mebibytes", container: "web", ref: corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}, want: "64"},
		{name: "memory rounded up", container: "web", ref: corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1G")}, want: "1"},
		{name: "cpu limit rounds up to cores", container: "web", ref: corev1.ResourceFieldSelector{Resource: "limits.cpu"}, want: "1"},
		{name: "cpu limit in millicores", container: "web", ref: corev1.ResourceFieldSelector{Resource: "limits.cpu", Divisor: resource.MustParse("1m")}, want: "500"},
		{name: "cpu request", container: "web", ref: corev1.ResourceFieldSelector{Resource: "requests.cpu", Divisor: resource.MustParse("1m")}, want: "10"},
		{name: "memory request", container: "web", ref: corev1.ResourceFieldSelector{Resource: "requests.memory"}, want: "33554432"},
		{name: "ephemeral storage", container: "web", ref: corev1.ResourceFieldSelector{Resource: "limits.ephemeral-storage", Divisor: resource.MustParse("1M")}, want: "1000"},
		{name: "another container's limit", container: "web", ref: corev1.ResourceFieldSelector{ContainerName: "sidecar", Resource: "limits.memory"}, want: "134217728"},
		{name: "an init container's limit", container: "web", ref: corev1.ResourceFieldSelector{ContainerName: "init", Resource: "limits.memory"}, want: "16777216"},
		{name: "request defaults to the limit", container: "sidecar", ref: corev1.ResourceFieldSelector{Resource: "requests.cpu"}, want: "2"},
		{name: "no request and no limit", container: "bare", ref: corev1.ResourceFieldSelector{Resource: "requests.memory"}, want: "0"},
		{name: "no limit", container: "bare", ref: corev1.ResourceFieldSelector{Resource: "limits.memory"}, wantErr: `resourceFieldRef limits.memory: container "bare" sets no limits.memory, and the kubelet would give the node's allocatable memory: set the limit`},
		{name: "unknown container", container: "web", ref: corev1.ResourceFieldSelector{ContainerName: "db", Resource: "limits.memory"}, wantErr: `containerName "db" is not a container of the pod`},
		{name: "not a resource", container: "web", ref: corev1.ResourceFieldSelector{Resource: "memory"}, wantErr: "want limits.<resource> or requests.<resource>"},
		{name: "resource the downward API lacks", container: "web", ref: corev1.ResourceFieldSelector{Resource: "limits.nvidia.com/gpu"}, wantErr: "is not one the downward API exposes"},
		{name: "divisor the API server rejects", container: "web", ref: corev1.ResourceFieldSelector{Resource: "limits.cpu", Divisor: resource.MustParse("1Mi")}, wantErr: "divisor 1Mi is not one the API server accepts for cpu"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ResourceFieldValue(pod, tt.container, tt.ref)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ResourceFieldValue(%s) error = %v, want one containing %q", tt.ref.Resource, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ResourceFieldValue(%s) error: %v", tt.ref.Resource, err)
			}
			if got != tt.want {
				t.Errorf("ResourceFieldValue(%s) = %q, want %q", tt.ref.Resource, got, tt.want)
			}
		})
	}
}

// TestSpecFromManifestEnvFrom guards the environment the local rollout
// starts the service with: resource references become the kubelet's
// literal, and any other valueFrom fails, naming the variable.
func TestSpecFromManifestEnvFrom(t *testing.T) {
	const deploy = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
        - name: web
          image: 127.0.0.1:5055/web:abc
          env:
            - name: MESSAGE
              value: hi
            - name: GOMEMLIMIT
              valueFrom:
                resourceFieldRef:
                  containerName: web
                  resource: limits.memory
          resources:
            limits:
              memory: 64Mi
`
	tests := []struct {
		name     string
		from, to string
		wantEnv  []string
		wantErr  string
	}{
		{name: "memory limit", wantEnv: []string{"MESSAGE=hi", "GOMEMLIMIT=67108864"}},
		{name: "with a divisor", from: "resource: limits.memory", to: "resource: limits.memory\n                  divisor: 1Mi", wantEnv: []string{"MESSAGE=hi", "GOMEMLIMIT=64"}},
		{name: "no limit", from: "          resources:\n            limits:\n              memory: 64Mi\n", to: "", wantErr: `env GOMEMLIMIT of container "web": resourceFieldRef limits.memory: container "web" sets no limits.memory`},
		{name: "secret", from: "              value: hi", to: "              valueFrom: {secretKeyRef: {name: s, key: k}}", wantErr: `env MESSAGE of container "web": uses valueFrom.secretKeyRef, which the local rollout cannot resolve: give it a literal value`},
		{name: "configmap", from: "              value: hi", to: "              valueFrom: {configMapKeyRef: {name: c, key: k}}", wantErr: `env MESSAGE of container "web": uses valueFrom.configMapKeyRef`},
		{name: "pod field", from: "              value: hi", to: "              valueFrom: {fieldRef: {fieldPath: metadata.name}}", wantErr: `env MESSAGE of container "web": uses valueFrom.fieldRef`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			manifest := deploy
			if tt.from != "" {
				if !strings.Contains(manifest, tt.from) {
					t.Fatalf("manifest has no %q", tt.from)
				}
				manifest = strings.Replace(manifest, tt.from, tt.to, 1)
			}
			got, err := SpecFromManifest([]byte(manifest), "web")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("SpecFromManifest() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantEnv, got.Env); diff != "" {
				t.Errorf("SpecFromManifest() env mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSpecFromGitopsManifests guards the local loop against the product's
// own manifests: each environment's Deployment must turn into a spec, with
// GOMEMLIMIT resolved to its memory limit in bytes.
func TestSpecFromGitopsManifests(t *testing.T) {
	root := inputstest.Need(t, inputs.Gitops)
	for _, dir := range []string{"platform-demo", "platform-demo-production"} {
		t.Run(dir, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(root, "gitops", "manifests", dir, "00-deployment.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			spec, err := SpecFromManifest(b, "platform-demo")
			if err != nil {
				t.Fatalf("SpecFromManifest(%s): %v", dir, err)
			}
			var gomemlimit string
			for _, e := range spec.Env {
				if v, ok := strings.CutPrefix(e, "GOMEMLIMIT="); ok {
					gomemlimit = v
				}
			}
			var d appsv1.Deployment
			if err := yaml.Unmarshal(b, &d); err != nil {
				t.Fatal(err)
			}
			var want string
			for _, c := range d.Spec.Template.Spec.Containers {
				if c.Name == "platform-demo" {
					want = strconv.FormatInt(c.Resources.Limits.Memory().Value(), 10)
				}
			}
			if gomemlimit != want {
				t.Errorf("SpecFromManifest(%s) GOMEMLIMIT = %q, want %s (the memory limit in bytes)", dir, gomemlimit, want)
			}
		})
	}
}
