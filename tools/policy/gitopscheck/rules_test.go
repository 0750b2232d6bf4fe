package gitopscheck

import (
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

// The repository's files the rule tests edit.
const (
	stagingDir        = "manifests/platform-demo/"
	stagingDeployment = stagingDir + "00-deployment.yaml"
	stagingPDB        = stagingDir + "03-pdb.yaml"
	stagingApp        = "argocd/platform-demo.yaml"
	project           = "argocd/project.yaml"
)

// TestRules guards each rule of the runtime, label, disruption and Argo CD
// policy against the repository's own tree: one edit that breaks a rule must
// be reported with the file, the cause and the fix, and an edit the rules
// allow must pass.
func TestRules(t *testing.T) {
	type change struct{ file, from, to string }
	tests := []struct {
		name    string
		changes []change
		remove  []string // files to delete, with their kustomization entries
		want    []string
	}{
		// Ingress.
		{name: "ingress without a class",
			changes: []change{{stagingDir + "02-ingress.yaml", "  ingressClassName: traefik\n", ""}},
			want:    []string{stagingDir + "02-ingress.yaml:", "spec.ingressClassName is not set", "set it to traefik"}},

		// Recommended labels.
		{name: "service without managed-by",
			changes: []change{{stagingDir + "01-service.yaml", "    app.kubernetes.io/managed-by: argocd\n", ""}},
			want:    []string{stagingDir + "01-service.yaml:", "metadata.labels lacks app.kubernetes.io/managed-by: every object carries the recommended labels"}},
		{name: "disruption budget without name",
			changes: []change{{stagingPDB, "    app.kubernetes.io/name: platform-demo\n", ""}},
			want:    []string{stagingPDB + ":", "metadata.labels lacks app.kubernetes.io/name"}},
		{name: "application without part-of",
			changes: []change{{stagingApp, "    app.kubernetes.io/part-of: minicloud\n", ""}},
			want:    []string{stagingApp + ":", "Application argocd/platform-demo: metadata.labels lacks app.kubernetes.io/part-of"}},
		{name: "project without instance",
			changes: []change{{project, "    app.kubernetes.io/instance: platform-demo\n", ""}},
			want:    []string{project + ":", "AppProject argocd/platform-demo: metadata.labels lacks app.kubernetes.io/instance"}},
		{name: "a version label",
			changes: []change{{stagingDeployment, "    app.kubernetes.io/managed-by: argocd\nspec:", "    app.kubernetes.io/managed-by: argocd\n    app.kubernetes.io/version: v1\nspec:"}},
			want:    []string{stagingDeployment + ":", "metadata.labels has app.kubernetes.io/version", "the bump writes are the version", "remove it"}},

		// Rollout timing.
		{name: "no progress deadline",
			changes: []change{{stagingDeployment, "  progressDeadlineSeconds: 120\n", ""}},
			want:    []string{stagingDeployment + ":", "spec.progressDeadlineSeconds is not set", "VERIFY_TIMEOUT's 10m default", "e.g. 120"}},
		{name: "progress deadline as long as VERIFY_TIMEOUT",
			changes: []change{{stagingDeployment, "progressDeadlineSeconds: 120", "progressDeadlineSeconds: 600"}},
			want:    []string{stagingDeployment + ":", "spec.progressDeadlineSeconds is 600, not under VERIFY_TIMEOUT's 10m default"}},
		{name: "progress deadline not above minReadySeconds",
			changes: []change{{stagingDeployment, "minReadySeconds: 5", "minReadySeconds: 120"}},
			want:    []string{stagingDeployment + ":", "spec.progressDeadlineSeconds is 120, not greater than minReadySeconds 120"}},
		{name: "no minReadySeconds",
			changes: []change{{stagingDeployment, "  minReadySeconds: 5\n", ""}},
			want:    []string{stagingDeployment + ":", "spec.minReadySeconds is not set: set it (e.g. 5)"}},

		// GOMEMLIMIT.
		{name: "no GOMEMLIMIT",
			changes: []change{{stagingDeployment, "            - name: GOMEMLIMIT\n              valueFrom:\n                resourceFieldRef:\n                  containerName: platform-demo\n                  resource: limits.memory\n", ""}},
			want:    []string{stagingDeployment + ":", `container "platform-demo": no env GOMEMLIMIT: set it from the memory limit (valueFrom.resourceFieldRef {containerName: platform-demo, resource: limits.memory})`}},
		{name: "GOMEMLIMIT as a literal",
			changes: []change{{stagingDeployment, "              valueFrom:\n                resourceFieldRef:\n                  containerName: platform-demo\n                  resource: limits.memory\n", "              value: 58MiB\n"}},
			want:    []string{stagingDeployment + ":", "env GOMEMLIMIT is not taken from the memory limit: a literal is a second owner of the limit"}},
		{name: "GOMEMLIMIT from the request",
			changes: []change{{stagingDeployment, "resource: limits.memory", "resource: requests.memory"}},
			want:    []string{stagingDeployment + ":", "env GOMEMLIMIT is taken from requests.memory, want limits.memory"}},
		{name: "GOMEMLIMIT from another container",
			changes: []change{{stagingDeployment, "containerName: platform-demo", "containerName: sidecar"}},
			want:    []string{stagingDeployment + ":", `env GOMEMLIMIT is taken from the memory limit of container "sidecar", not its own`}},
		{name: "GOMEMLIMIT in mebibytes",
			changes: []change{{stagingDeployment, "                  resource: limits.memory\n", "                  resource: limits.memory\n                  divisor: 1Mi\n"}},
			want:    []string{stagingDeployment + ":", "env GOMEMLIMIT has divisor 1Mi: the Go runtime reads a bare number as bytes", "remove the divisor"}},

		// Readiness and metrics.
		{name: "readiness gives up on one failure",
			changes: []change{{stagingDeployment, "failureThreshold: 2", "failureThreshold: 1"}},
			want:    []string{stagingDeployment + ":", "readinessProbe.failureThreshold is 1: one slow answer takes the pod out of the Service; set it to 2 or more"}},
		{name: "no scrape annotation",
			changes: []change{{stagingDeployment, "        prometheus.io/scrape: \"true\"\n", ""}},
			want:    []string{stagingDeployment + ":", `the pod template's prometheus.io/scrape annotation is "", want "true"`}},
		{name: "scrape port that is not a container port",
			changes: []change{{stagingDeployment, `prometheus.io/port: "8080"`, `prometheus.io/port: "9090"`}},
			want:    []string{stagingDeployment + ":", `prometheus.io/port annotation "9090" is not a containerPort of the pod`}},

		// Disruption budget.
		{name: "two replicas and no budget",
			remove: []string{stagingPDB},
			want:   []string{stagingDeployment + ":", `replicas is 2 and no PodDisruptionBudget in namespace "gitops-demo" selects its pods`, "maxUnavailable: 1"}},
		{name: "one replica needs no budget",
			remove:  []string{stagingPDB, "manifests/platform-demo-production/03-pdb.yaml"},
			changes: []change{{stagingDeployment, "replicas: 2", "replicas: 1"}, {"manifests/platform-demo-production/00-deployment.yaml", "replicas: 2", "replicas: 1"}},
			want:    nil},
		{name: "budget that selects no pod",
			changes: []change{{stagingPDB, "      app.kubernetes.io/instance: platform-demo\n", "      app.kubernetes.io/instance: other\n"}},
			want:    []string{stagingPDB + ":", "matches the pod template of no Deployment in namespace \"gitops-demo\": the budget protects nothing"}},
		{name: "budget that blocks every drain",
			changes: []change{{stagingPDB, "maxUnavailable: 1", "maxUnavailable: 0"}},
			want:    []string{stagingPDB + ":", "maxUnavailable 0 allows no eviction of Deployment platform-demo's 2 pods: a node drain would never finish"}},
		{name: "budget whose minAvailable is every replica",
			changes: []change{{stagingPDB, "maxUnavailable: 1", "minAvailable: 2"}},
			want:    []string{stagingPDB + ":", "minAvailable 2 with Deployment platform-demo's 2 replicas allows no eviction"}},

		{name: "production's budget drifts",
			changes: []change{{"manifests/platform-demo-production/03-pdb.yaml", "maxUnavailable: 1", "maxUnavailable: 50%"}},
			want:    []string{"manifests/platform-demo-production/03-pdb.yaml:", "environment production's PodDisruptionBudget/platform-demo differs from staging's"}},

		// Argo CD Application.
		{name: "application without the resources finalizer",
			changes: []change{{stagingApp, "  finalizers:\n    - resources-finalizer.argocd.argoproj.io\n", ""}},
			want:    []string{stagingApp + ":", "metadata.finalizers lacks resources-finalizer.argocd.argoproj.io: without it, deleting the Application leaves everything it deployed running"}},
		{name: "application without retry",
			changes: []change{{stagingApp, "    retry:\n      limit: 5\n      refresh: true\n      backoff:\n        duration: 5s\n        factor: 2\n        maxDuration: 3m\n", ""}},
			want:    []string{stagingApp + ":", "spec.syncPolicy.retry is not set", "limit 5, refresh: true and backoff {duration: 5s, factor: 2, maxDuration: 3m}"}},
		{name: "application whose retries keep the old revision",
			changes: []change{{stagingApp, "      refresh: true\n", ""}},
			want:    []string{stagingApp + ":", "spec.syncPolicy.retry.refresh is not true: a failing sync keeps retrying the revision it started with"}},
		{name: "deployment on one node",
			changes: []change{{stagingDeployment, "topologyKey: kubernetes.io/hostname", "topologyKey: topology.kubernetes.io/zone"}},
			want:    []string{stagingDeployment + ":", "topologySpreadConstraints does not spread the pods over nodes"}},
		{name: "application in the default project",
			changes: []change{{stagingApp, "project: platform-demo", "project: default"}},
			want:    []string{stagingApp + ":", `spec.project is "default", Argo CD's built-in project`}},
		{name: "application in a project the tree lacks",
			changes: []change{{project, "  name: platform-demo\n", "  name: platform-demo-project\n"}},
			want:    []string{stagingApp + ":", `spec.project "platform-demo" is not an AppProject of this tree`, "apply it first"}},
		{name: "created namespace without Pod Security Admission",
			changes: []change{{stagingApp, "    managedNamespaceMetadata:\n      labels:\n        pod-security.kubernetes.io/enforce: restricted\n        pod-security.kubernetes.io/audit: restricted\n        pod-security.kubernetes.io/warn: restricted\n", ""}},
			want:    []string{stagingApp + ":", "spec.syncPolicy uses CreateNamespace=true without managedNamespaceMetadata.labels pod-security.kubernetes.io/enforce: restricted"}},
		{name: "created namespace enforcing baseline",
			changes: []change{{stagingApp, "pod-security.kubernetes.io/enforce: restricted", "pod-security.kubernetes.io/enforce: baseline"}},
			want:    []string{stagingApp + ":", `managedNamespaceMetadata.labels pod-security.kubernetes.io/enforce is "baseline", want "restricted"`}},
		{name: "repoURL with .git and another case",
			changes: []change{{stagingApp, "repoURL: https://github.com/andrelair-platform/minicloud-gitops", "repoURL: https://github.com/Andrelair-Platform/minicloud-gitops.git"}},
			want:    nil},

		// Argo CD AppProject.
		{name: "project allowing every repository",
			changes: []change{{project, "    - https://github.com/andrelair-platform/minicloud-gitops\n", "    - \"*\"\n"}},
			want:    []string{project + ":", `spec.sourceRepos allows "*": manifests from any repository could be deployed`}},
		{name: "project allowing another repository",
			changes: []change{{project, "andrelair-platform/minicloud-gitops", "andrelair-platform/other-gitops"}},
			want:    []string{project + ":", "spec.sourceRepos does not permit https://github.com/andrelair-platform/minicloud-gitops, the repoURL of Application platform-demo-production", "add the repository"}},
		{name: "project without production's namespace",
			changes: []change{{project, "      namespace: gitops-demo-production\n", "      namespace: gitops-demo-prod\n"}},
			want:    []string{project + ":", "spec.destinations does not cover https://kubernetes.default.svc namespace gitops-demo-production, the destination of Application platform-demo-production"}},
		{name: "project without Namespace for CreateNamespace",
			changes: []change{{project, "  clusterResourceWhitelist:\n    - group: \"\"\n      kind: Namespace\n", ""}},
			want:    []string{project + ":", `Application platform-demo uses CreateNamespace=true, and spec.clusterResourceWhitelist does not allow group "" kind Namespace`, "resource :Namespace is not permitted in project platform-demo"}},
		{name: "project without a kind the manifests use",
			changes: []change{{project, "    - group: policy\n      kind: PodDisruptionBudget\n", ""}},
			want:    []string{project + ":", `spec.namespaceResourceWhitelist does not allow group "policy" kind PodDisruptionBudget, which Application platform-demo deploys (manifests/platform-demo/03-pdb.yaml)`, "resource policy:PodDisruptionBudget is not permitted in project platform-demo"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := copyTree(t, repoTree(t))
			for _, rel := range tt.remove {
				if err := os.Remove(filepath.Join(dir, filepath.FromSlash(rel))); err != nil {
					t.Fatal(err)
				}
				edit(t, dir, path.Join(path.Dir(rel), "kustomization.yaml"), "  - "+path.Base(rel)+"\n", "")
			}
			for _, c := range tt.changes {
				edit(t, dir, c.file, c.from, c.to)
			}
			problems, all := check(t, dir)
			if len(tt.want) == 0 && len(problems) > 0 {
				t.Fatalf("Dir() = %s\nwant no problems", all)
			}
			if len(tt.want) == 0 {
				return
			}
			// Every fragment in one problem: the file, the cause and the fix.
			found := false
			for _, p := range problems {
				line := p.String()
				ok := true
				for _, w := range tt.want {
					ok = ok && strings.Contains(line, w)
				}
				found = found || ok
			}
			if !found {
				t.Errorf("Dir() = %s\nwant a problem containing all of %q", all, tt.want)
			}
		})
	}
}

func TestRepoMatches(t *testing.T) {
	tests := []struct {
		pattern, repo string
		want          bool
	}{
		{"https://github.com/o/r", "https://github.com/o/r", true},
		{"https://github.com/o/r", "https://github.com/O/R.git", true},
		{"https://github.com/o/r.git", "https://github.com/o/r/", true},
		{"https://github.com/o/*", "https://github.com/o/r", true},
		{"*", "git@github.com:o/r.git", true},
		{"https://github.com/o/r", "https://github.com/o/other", false},
		{"https://github.com/o/r", "git@github.com:o/r.git", false}, // Argo CD tells HTTPS and SSH apart
	}
	for _, tt := range tests {
		if got := repoMatches(tt.pattern, tt.repo); got != tt.want {
			t.Errorf("repoMatches(%q, %q) = %v, want %v", tt.pattern, tt.repo, got, tt.want)
		}
	}
}

func TestDestinationCovers(t *testing.T) {
	const server = "https://kubernetes.default.svc"
	app := applicationDestination{Server: server, Namespace: "gitops-demo"}
	tests := []struct {
		name string
		d    applicationDestination
		want bool
	}{
		{"same server and namespace", applicationDestination{Server: server, Namespace: "gitops-demo"}, true},
		{"namespace glob", applicationDestination{Server: server, Namespace: "gitops-*"}, true},
		{"any", applicationDestination{Server: "*", Namespace: "*"}, true},
		{"other namespace", applicationDestination{Server: server, Namespace: "gitops-demo-production"}, false},
		{"other server", applicationDestination{Server: "https://10.0.0.1:6443", Namespace: "gitops-demo"}, false},
		{"by name only", applicationDestination{Name: "in-cluster", Namespace: "gitops-demo"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := destinationCovers(tt.d, app); got != tt.want {
				t.Errorf("destinationCovers(%+v, %+v) = %v, want %v", tt.d, app, got, tt.want)
			}
		})
	}
}
