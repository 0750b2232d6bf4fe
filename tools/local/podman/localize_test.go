package podman

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/andrelair-platform/platform-demo/tools/internal/inputs"
	"github.com/andrelair-platform/platform-demo/tools/internal/inputstest"
)

const webDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 45
      containers:
        - name: web
          image: example.com/web:1 # pinned by the bump
          ports:
            - name: http
              containerPort: 8080
          livenessProbe:
            httpGet: {path: /healthz, port: http}
          readinessProbe:
            httpGet: {path: /readyz, port: http}
`

// summary is what a test checks of a localized Deployment.
type summary struct {
	Name      string
	Replicas  *int32
	Images    map[string]string
	Ports     map[string][]corev1.ContainerPort
	Liveness  map[string]bool
	Readiness map[string]bool
}

func summarize(t *testing.T, d appsv1.Deployment) summary {
	t.Helper()
	s := summary{
		Name: d.Name, Replicas: d.Spec.Replicas,
		Images: map[string]string{}, Ports: map[string][]corev1.ContainerPort{},
		Liveness: map[string]bool{}, Readiness: map[string]bool{},
	}
	for _, c := range d.Spec.Template.Spec.Containers {
		s.Images[c.Name] = c.Image
		s.Ports[c.Name] = c.Ports
		s.Liveness[c.Name] = c.LivenessProbe != nil
		s.Readiness[c.Name] = c.ReadinessProbe != nil
	}
	return s
}

// decodeDeployment returns the only Deployment in a YAML stream, decoded
// strictly, so a misspelt rewritten field fails the test.
func decodeDeployment(t *testing.T, b []byte) appsv1.Deployment {
	t.Helper()
	var found []appsv1.Deployment
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read YAML: %v", err)
		}
		var meta struct{ Kind string }
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			t.Fatalf("decode kind: %v", err)
		}
		if meta.Kind != "Deployment" {
			continue
		}
		var d appsv1.Deployment
		if err := yaml.UnmarshalStrict(doc, &d); err != nil {
			t.Fatalf("decode Deployment strictly: %v\n%s", err, doc)
		}
		found = append(found, d)
	}
	if len(found) != 1 {
		t.Fatalf("found %d Deployments, want 1, in:\n%s", len(found), b)
	}
	return found[0]
}

func ptr[T any](v T) *T { return &v }

func TestLocalize(t *testing.T) {
	web := local{container: "web", image: "127.0.0.1:5055/web:abc@sha256:" + strings.Repeat("a", 64), containerPort: 8080, hostPort: 18080}
	published := corev1.ContainerPort{Name: "http", ContainerPort: 8080, HostPort: 18080, HostIP: "127.0.0.1"}

	tests := []struct {
		name      string
		in        string
		l         local
		want      summary
		wantGrace int
		wantRules int // number of rewrites reported
	}{
		{
			name: "every rewrite",
			in:   webDeployment,
			l:    web,
			want: summary{
				Name: "web", Replicas: ptr[int32](1),
				Images:    map[string]string{"web": web.image},
				Ports:     map[string][]corev1.ContainerPort{"web": {published}},
				Liveness:  map[string]bool{"web": false},
				Readiness: map[string]bool{"web": true},
			},
			wantGrace: 45,
			wantRules: 4,
		},
		{
			name: "name replaced",
			in:   webDeployment,
			l:    local{container: "web", name: "web-test-1", containerPort: 8080, hostPort: 18080},
			want: summary{
				Name: "web-test-1", Replicas: ptr[int32](1),
				Images:    map[string]string{"web": "example.com/web:1"},
				Ports:     map[string][]corev1.ContainerPort{"web": {published}},
				Liveness:  map[string]bool{"web": false},
				Readiness: map[string]bool{"web": true},
			},
			wantGrace: 45,
			wantRules: 4,
		},
		{
			name: "replicas absent stays absent, default grace",
			in: `kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      containers:
        - name: web
          image: example.com/web:1
          ports: [{containerPort: 8080}]
`,
			l: web,
			want: summary{
				Name:      "web",
				Images:    map[string]string{"web": web.image},
				Ports:     map[string][]corev1.ContainerPort{"web": {{ContainerPort: 8080, HostPort: 18080, HostIP: "127.0.0.1"}}},
				Liveness:  map[string]bool{"web": false},
				Readiness: map[string]bool{"web": false},
			},
			wantGrace: 30,
			wantRules: 2,
		},
		{
			name: "other ports stay on loopback, exec probe kept, tcp probe removed",
			in: `kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  template:
    spec:
      containers:
        - name: web
          image: example.com/web:1
          ports:
            - {name: metrics, containerPort: 9090}
            - {name: http, containerPort: 8080, hostPort: 80, hostIP: 0.0.0.0}
          livenessProbe:
            exec: {command: [/ko-app/web, -check]}
        - name: sidecar
          image: example.com/sidecar:1
          ports: [{containerPort: 8080}]
          livenessProbe:
            tcpSocket: {port: 8080}
`,
			l: web,
			want: summary{
				Name: "web", Replicas: ptr[int32](1),
				Images: map[string]string{"web": web.image, "sidecar": "example.com/sidecar:1"},
				Ports: map[string][]corev1.ContainerPort{
					"web":     {{Name: "metrics", ContainerPort: 9090, HostIP: "127.0.0.1"}, published},
					"sidecar": {{ContainerPort: 8080, HostIP: "127.0.0.1"}},
				},
				Liveness:  map[string]bool{"web": true, "sidecar": false},
				Readiness: map[string]bool{"web": false, "sidecar": false},
			},
			wantGrace: 30,
			wantRules: 5,
		},
		{
			name: "other documents pass through",
			in: `apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  ports: [{port: 80, targetPort: http}]
---
` + webDeployment,
			l: web,
			want: summary{
				Name: "web", Replicas: ptr[int32](1),
				Images:    map[string]string{"web": web.image},
				Ports:     map[string][]corev1.ContainerPort{"web": {published}},
				Liveness:  map[string]bool{"web": false},
				Readiness: map[string]bool{"web": true},
			},
			wantGrace: 45,
			wantRules: 4,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := localize([]byte(tt.in), tt.l)
			if err != nil {
				t.Fatalf("localize: %v", err)
			}
			if diff := cmp.Diff(tt.want, summarize(t, decodeDeployment(t, got.manifest))); diff != "" {
				t.Errorf("localize Deployment mismatch (-want +got):\n%s\nmanifest:\n%s", diff, got.manifest)
			}
			if got.name != tt.want.Name {
				t.Errorf("localize name = %q, want %q", got.name, tt.want.Name)
			}
			if got.grace != tt.wantGrace {
				t.Errorf("localize grace = %d, want %d", got.grace, tt.wantGrace)
			}
			if got.image != tt.want.Images[tt.l.container] {
				t.Errorf("localize image = %q, want %q", got.image, tt.want.Images[tt.l.container])
			}
			if len(got.rewrites) != tt.wantRules {
				t.Errorf("localize reported %d rewrites, want %d:\n%s", len(got.rewrites), tt.wantRules, strings.Join(got.rewrites, "\n"))
			}
			// A manifest already localized needs nothing more: replaying the
			// rewritten file must not drift.
			again, err := localize(got.manifest, tt.l)
			if err != nil {
				t.Fatalf("localize of its own output: %v", err)
			}
			if len(again.rewrites) != 0 || !bytes.Equal(again.manifest, got.manifest) {
				t.Errorf("localize of its own output rewrote again:\n%s", strings.Join(again.rewrites, "\n"))
			}
		})
	}
}

// TestLocalizeResourceFieldRefs guards the environment podman gives the
// service: podman 4.3 resolves resourceFieldRef from the container the
// variable belongs to (seen: containerName naming a sidecar with a 128Mi
// limit gave the serving container's 64Mi), so a reference to another
// container is pinned to the kubelet's literal, and one to the container
// itself is passed through for podman to resolve as the kubelet would.
func TestLocalizeResourceFieldRefs(t *testing.T) {
	const deployment = `kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      containers:
        - name: web
          image: example.com/web:1
          ports: [{containerPort: 8080}]
          env:
            - name: GOMEMLIMIT
              valueFrom:
                resourceFieldRef: {containerName: web, resource: limits.memory}
            - name: OWN_CPU
              valueFrom:
                resourceFieldRef: {resource: limits.cpu, divisor: 1m}
            - name: SIDECAR_MEMORY
              valueFrom:
                resourceFieldRef: {containerName: sidecar, resource: limits.memory, divisor: 1Mi}
          resources:
            limits: {cpu: 500m, memory: 64Mi}
        - name: sidecar
          image: example.com/sidecar:1
          env:
            - name: WEB_MEMORY
              valueFrom:
                resourceFieldRef: {containerName: web, resource: limits.memory}
          resources:
            limits: {memory: 128Mi}
`
	got, err := localize([]byte(deployment), local{container: "web", containerPort: 8080, hostPort: 18080})
	if err != nil {
		t.Fatalf("localize: %v", err)
	}
	d := decodeDeployment(t, got.manifest)
	type env struct {
		Value string
		Ref   string // the resourceFieldRef's container and resource, when kept
	}
	gotEnv := map[string]env{}
	for _, c := range d.Spec.Template.Spec.Containers {
		for _, e := range c.Env {
			v := env{Value: e.Value}
			if e.ValueFrom != nil && e.ValueFrom.ResourceFieldRef != nil {
				v.Ref = e.ValueFrom.ResourceFieldRef.ContainerName + "/" + e.ValueFrom.ResourceFieldRef.Resource
			}
			gotEnv[c.Name+"."+e.Name] = v
		}
	}
	want := map[string]env{
		"web.GOMEMLIMIT":     {Ref: "web/limits.memory"},
		"web.OWN_CPU":        {Ref: "/limits.cpu"},
		"web.SIDECAR_MEMORY": {Value: "128"},
		"sidecar.WEB_MEMORY": {Value: "67108864"},
	}
	if diff := cmp.Diff(want, gotEnv); diff != "" {
		t.Errorf("localize env mismatch (-want +got):\n%s\nmanifest:\n%s", diff, got.manifest)
	}
	var pinned []string
	for _, r := range got.rewrites {
		if strings.HasPrefix(r, "env ") {
			pinned = append(pinned, r)
		}
	}
	wantPinned := []string{
		"env SIDECAR_MEMORY of container web: value 128, the kubelet's limits.memory of container sidecar (podman 4.3 reads resourceFieldRef from the container itself, whatever containerName says)",
		"env WEB_MEMORY of container sidecar: value 67108864, the kubelet's limits.memory of container web (podman 4.3 reads resourceFieldRef from the container itself, whatever containerName says)",
	}
	if diff := cmp.Diff(wantPinned, pinned); diff != "" {
		t.Errorf("localize env rewrites mismatch (-want +got):\n%s", diff)
	}
	again, err := localize(got.manifest, local{container: "web", containerPort: 8080, hostPort: 18080})
	if err != nil {
		t.Fatalf("localize of its own output: %v", err)
	}
	if len(again.rewrites) != 0 {
		t.Errorf("localize of its own output rewrote again:\n%s", strings.Join(again.rewrites, "\n"))
	}
}

func TestLocalizeKeepsService(t *testing.T) {
	in := "kind: Service\nmetadata: {name: web}\nspec:\n  ports: [{port: 80, targetPort: http}]\n---\n" + webDeployment
	got, err := localize([]byte(in), local{container: "web", containerPort: 8080, hostPort: 18080})
	if err != nil {
		t.Fatalf("localize: %v", err)
	}
	svc, _, _ := strings.Cut(string(got.manifest), "---")
	want := "kind: Service\nmetadata: {name: web}\nspec:\n  ports: [{port: 80, targetPort: http}]\n"
	if svc != want {
		t.Errorf("localize Service = %q, want %q", svc, want)
	}
}

func TestLocalizeErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		l    local
		want string
	}{
		{"container missing", webDeployment, local{container: "api", containerPort: 8080, hostPort: 18080}, `"api"`},
		{"port missing", webDeployment, local{container: "web", containerPort: 9000, hostPort: 18080}, "no containerPort 9000"},
		{"host port out of range", webDeployment, local{container: "web", containerPort: 8080, hostPort: 70000}, "out of range"},
		{"no container name", webDeployment, local{containerPort: 8080, hostPort: 18080}, "empty container name"},
		{"bad grace", strings.Replace(webDeployment, "45", "soon", 1), local{container: "web", containerPort: 8080, hostPort: 18080}, `"soon"`},
		{"not YAML", "kind: [", local{container: "web", containerPort: 8080, hostPort: 18080}, "localize manifest"},
		{"another container's limit that is not set", strings.Replace(webDeployment, "          readinessProbe:", "          env:\n            - name: SIDE\n              valueFrom: {resourceFieldRef: {containerName: side, resource: limits.memory}}\n          readinessProbe:", 1) +
			"        - name: side\n          image: example.com/side:1\n", local{container: "web", containerPort: 8080, hostPort: 18080}, `env SIDE of container web: resourceFieldRef limits.memory: container "side" sets no limits.memory`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := localize([]byte(tt.in), tt.l)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("localize error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestLocalizeGitops guards the product's own manifest: everything podman
// enforces (the securityContext above all) must reach podman unchanged.
func TestLocalizeGitops(t *testing.T) {
	in, err := os.ReadFile(filepath.Join(inputstest.Need(t, inputs.Gitops), "gitops", "manifests", "platform-demo", "00-deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	const image = "127.0.0.1:5055/platform-demo:0123456"
	got, err := localize(in, local{container: "platform-demo", image: image, containerPort: 8080, hostPort: 18080})
	if err != nil {
		t.Fatalf("localize: %v", err)
	}
	before, after := decodeDeployment(t, in), decodeDeployment(t, got.manifest)

	// Undo the documented rewrites; what is left must equal the original.
	after.Spec.Replicas = before.Spec.Replicas
	for i := range after.Spec.Template.Spec.Containers {
		c := &after.Spec.Template.Spec.Containers[i]
		if c.Name != "platform-demo" {
			continue
		}
		if c.Image != image {
			t.Errorf("localize image = %q, want %q", c.Image, image)
		}
		if c.Ports[0].HostPort != 18080 || c.Ports[0].HostIP != "127.0.0.1" {
			t.Errorf("localize port = %+v, want hostPort 18080 on 127.0.0.1", c.Ports[0])
		}
		if c.LivenessProbe != nil {
			t.Errorf("localize kept the httpGet livenessProbe")
		}
		orig := before.Spec.Template.Spec.Containers[i]
		c.Image, c.Ports, c.LivenessProbe = orig.Image, orig.Ports, orig.LivenessProbe
	}
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("localize changed more than documented (-want +got):\n%s", diff)
	}
	if got.grace != 30 || got.name != "platform-demo" {
		t.Errorf("localize = name %q grace %d, want platform-demo and 30", got.name, got.grace)
	}
}

func TestLoopbackImage(t *testing.T) {
	tests := []struct {
		image string
		want  bool
	}{
		{"127.0.0.1:5055/platform-demo:abc", true},
		{"localhost:5000/web", true},
		{"[::1]:5000/web@sha256:" + strings.Repeat("0", 64), true},
		{"ghcr.io/andrelair-platform/platform-demo:latest", false},
		{"10.0.0.200:5000/web", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := loopbackImage(tt.image); got != tt.want {
			t.Errorf("loopbackImage(%q) = %v, want %v", tt.image, got, tt.want)
		}
	}
}

func TestTail(t *testing.T) {
	stderr := "failed to connect to syslog: Initialization\n" +
		`time="x" level=error msg="unable to get systemd connection to add healthchecks"` + "\n" +
		"Error: failed to start 1 containers\n"
	if got, want := tail(stderr), "Error: failed to start 1 containers"; got != want {
		t.Errorf("tail(%q) = %q, want %q", stderr, got, want)
	}
}

func TestPlayedPod(t *testing.T) {
	out := "Pod:\nbf6f5b07f19b\nContainer:\n9828e90e0630\n\n"
	if got, want := playedPod([]byte(out)), "bf6f5b07f19b"; got != want {
		t.Errorf("playedPod(%q) = %q, want %q", out, got, want)
	}
}
