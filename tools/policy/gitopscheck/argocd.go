package gitopscheck

import (
	"fmt"
	"path"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Argo CD names and values the checks hold Applications and projects to.
const (
	// resourcesFinalizer makes deleting an Application delete what it
	// deployed; the /foreground and /background forms choose the cascade.
	resourcesFinalizer = "resources-finalizer.argocd.argoproj.io"
	// createNamespace is the sync option that makes Argo CD create the
	// destination namespace.
	createNamespace = "CreateNamespace=true"
	// psaEnforce is the Pod Security Admission label that decides which pods
	// a namespace admits.
	psaEnforce = "pod-security.kubernetes.io/enforce"
	// psaRestricted is the level every namespace Argo CD creates enforces.
	psaRestricted = "restricted"
	// defaultProject is Argo CD's built-in project, which allows any
	// repository, any destination and any kind.
	defaultProject = "default"
)

// application models the fields of an Argo CD Application this product uses.
type application struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              applicationSpec `json:"spec"`
}

type applicationSpec struct {
	Project              string                 `json:"project"`
	Source               *applicationSource     `json:"source,omitempty"`
	Destination          applicationDestination `json:"destination"`
	SyncPolicy           *syncPolicy            `json:"syncPolicy,omitempty"`
	RevisionHistoryLimit *int64                 `json:"revisionHistoryLimit,omitempty"`
}

type applicationSource struct {
	RepoURL        string `json:"repoURL"`
	TargetRevision string `json:"targetRevision,omitempty"`
	Path           string `json:"path,omitempty"`
}

type applicationDestination struct {
	Server    string `json:"server,omitempty"`
	Name      string `json:"name,omitempty"`
	Namespace string `json:"namespace,omitempty"`
}

// String names the destination as Argo CD's errors do.
func (d applicationDestination) String() string {
	cluster := d.Server
	if cluster == "" {
		cluster = d.Name
	}
	return fmt.Sprintf("%s namespace %s", cluster, d.Namespace)
}

type syncPolicy struct {
	Automated                *syncPolicyAutomated      `json:"automated,omitempty"`
	SyncOptions              []string                  `json:"syncOptions,omitempty"`
	Retry                    *retryStrategy            `json:"retry,omitempty"`
	ManagedNamespaceMetadata *managedNamespaceMetadata `json:"managedNamespaceMetadata,omitempty"`
}

type syncPolicyAutomated struct {
	Prune      bool `json:"prune,omitempty"`
	SelfHeal   bool `json:"selfHeal,omitempty"`
	AllowEmpty bool `json:"allowEmpty,omitempty"`
}

type retryStrategy struct {
	Limit   int64 `json:"limit,omitempty"`
	Refresh bool  `json:"refresh,omitempty"`
	Backoff *struct {
		Duration    string `json:"duration,omitempty"`
		Factor      *int64 `json:"factor,omitempty"`
		MaxDuration string `json:"maxDuration,omitempty"`
	} `json:"backoff,omitempty"`
}

// managedNamespaceMetadata is what Argo CD writes on the namespace it creates
// with CreateNamespace=true.
type managedNamespaceMetadata struct {
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// createsNamespace reports whether Argo CD creates the Application's
// destination namespace.
func (a *application) createsNamespace() bool {
	return a.Spec.SyncPolicy != nil && slices.Contains(a.Spec.SyncPolicy.SyncOptions, createNamespace)
}

// checkApplication holds the Application to continuous delivery: a source,
// automated sync that prunes and heals, so git alone decides what runs, and
// retries; a cascade on deletion; a project of its own; and a restricted
// namespace when Argo CD creates it.
func checkApplication(o *object) []Problem {
	a := o.value.(*application)
	var problems []Problem
	add := func(path []any, format string, args ...any) {
		problems = append(problems, o.problem(path, format, args...))
	}
	if a.Spec.Source == nil || a.Spec.Source.RepoURL == "" {
		add([]any{"spec", "source"}, "spec.source.repoURL is not set: name the gitops repository")
	}
	if !slices.ContainsFunc(a.Finalizers, func(f string) bool { return f == resourcesFinalizer || strings.HasPrefix(f, resourcesFinalizer+"/") }) {
		add([]any{"metadata"}, "metadata.finalizers lacks %s: without it, deleting the Application leaves everything it deployed running, unmanaged; add it", resourcesFinalizer)
	}
	if p := a.Spec.Project; p == "" || p == defaultProject {
		add([]any{"spec", "project"}, "spec.project is %q, Argo CD's built-in project, which lets an Application deploy any repository anywhere: use an AppProject of this tree that allows only the gitops repository and these namespaces", defaultProject)
	}
	sp := a.Spec.SyncPolicy
	if sp == nil {
		sp = &syncPolicy{}
	}
	switch auto := sp.Automated; {
	case auto == nil:
		add([]any{"spec", "syncPolicy"}, "spec.syncPolicy.automated is not set: without it a bump reaches git but never the cluster")
	default:
		if !auto.Prune {
			add([]any{"spec", "syncPolicy", "automated"}, "spec.syncPolicy.automated.prune is not true: objects removed from git would keep running")
		}
		if !auto.SelfHeal {
			add([]any{"spec", "syncPolicy", "automated"}, "spec.syncPolicy.automated.selfHeal is not true: changes made by hand in the cluster would stay")
		}
	}
	switch {
	case sp.Retry == nil || sp.Retry.Limit == 0:
		add([]any{"spec", "syncPolicy"}, "spec.syncPolicy.retry is not set (or its limit is 0): a sync that fails on a passing error is not tried again until git changes; add retry with limit 5, refresh: true and backoff {duration: 5s, factor: 2, maxDuration: 3m}")
	case !sp.Retry.Refresh:
		add([]any{"spec", "syncPolicy", "retry"}, "spec.syncPolicy.retry.refresh is not true: a failing sync keeps retrying the revision it started with, even after a commit that fixes it; set refresh: true")
	}
	if a.createsNamespace() {
		var labels map[string]string
		if sp.ManagedNamespaceMetadata != nil {
			labels = sp.ManagedNamespaceMetadata.Labels
		}
		if v := labels[psaEnforce]; v != psaRestricted {
			at := []any{"spec", "syncPolicy", "managedNamespaceMetadata", "labels"}
			if v == "" {
				add(at, "spec.syncPolicy uses %s without managedNamespaceMetadata.labels %s: %s: the namespace Argo CD creates would admit privileged pods; add the Pod Security Admission labels (enforce, audit and warn: restricted)", createNamespace, psaEnforce, psaRestricted)
			} else {
				add(append(at, psaEnforce), "managedNamespaceMetadata.labels %s is %q, want %q: the Deployment meets the restricted profile, so the namespace can hold every pod to it", psaEnforce, v, psaRestricted)
			}
		}
	}
	return problems
}

// appProject models the fields of an Argo CD AppProject this product uses.
type appProject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              appProjectSpec `json:"spec"`
}

type appProjectSpec struct {
	Description                string                   `json:"description,omitempty"`
	SourceRepos                []string                 `json:"sourceRepos,omitempty"`
	Destinations               []applicationDestination `json:"destinations,omitempty"`
	ClusterResourceWhitelist   []projectResource        `json:"clusterResourceWhitelist,omitempty"`
	ClusterResourceBlacklist   []projectResource        `json:"clusterResourceBlacklist,omitempty"`
	NamespaceResourceWhitelist []projectResource        `json:"namespaceResourceWhitelist,omitempty"`
	NamespaceResourceBlacklist []projectResource        `json:"namespaceResourceBlacklist,omitempty"`
}

// projectResource is one entry of an AppProject's resource allow or deny
// lists. Name (a glob on the object's name) exists for cluster-scoped kinds
// from Argo CD v3.3.
type projectResource struct {
	Group string `json:"group"`
	Kind  string `json:"kind"`
	Name  string `json:"name,omitempty"`
}

// checkAppProject rejects a project that allows every repository: the
// project is what keeps an Application to the gitops repository.
func checkAppProject(o *object) []Problem {
	p := o.value.(*appProject)
	var problems []Problem
	if len(p.Spec.SourceRepos) == 0 {
		problems = append(problems, o.problem([]any{"spec"}, "spec.sourceRepos is empty: Argo CD would refuse every Application of the project; list the gitops repository"))
	}
	for i, r := range p.Spec.SourceRepos {
		if r == "*" {
			problems = append(problems, o.problem([]any{"spec", "sourceRepos", i}, `spec.sourceRepos allows "*": manifests from any repository could be deployed under this project; list the gitops repository instead`))
		}
	}
	return problems
}

// checkProjects checks each Application against its AppProject: the project
// exists in the tree and permits the Application's repository, destination
// and every kind it deploys. Argo CD refuses each of these at sync time,
// after the bump has already landed in git.
func checkProjects(objects []*object) []Problem {
	projects := map[string]*object{}
	for _, o := range objects {
		if _, ok := o.value.(*appProject); ok {
			projects[o.name] = o
		}
	}
	var problems []Problem
	for _, o := range objects {
		a, ok := o.value.(*application)
		if !ok || a.Spec.Project == "" || a.Spec.Project == defaultProject {
			continue // the built-in project is reported by checkApplication
		}
		po, ok := projects[a.Spec.Project]
		if !ok {
			if !slices.ContainsFunc(objects, func(m *object) bool { return m.value == nil && m.kind.kind == "AppProject" && m.name == a.Spec.Project }) {
				problems = append(problems, o.problem([]any{"spec", "project"}, "spec.project %q is not an AppProject of this tree: Argo CD leaves the Application unsynced (InvalidSpecError) until the project exists; add it under argocd/ and apply it first", a.Spec.Project))
			}
			continue
		}
		p := po.value.(*appProject)
		if src := a.Spec.Source; src != nil && src.RepoURL != "" && !slices.ContainsFunc(p.Spec.SourceRepos, func(r string) bool { return repoMatches(r, src.RepoURL) }) {
			problems = append(problems, po.problem([]any{"spec", "sourceRepos"}, "spec.sourceRepos does not permit %s, the repoURL of Application %s: Argo CD would refuse to sync it; add the repository", src.RepoURL, o.name))
		}
		if !slices.ContainsFunc(p.Spec.Destinations, func(d applicationDestination) bool { return destinationCovers(d, a.Spec.Destination) }) {
			problems = append(problems, po.problem([]any{"spec", "destinations"}, "spec.destinations does not cover %s, the destination of Application %s: Argo CD would refuse to sync it; add that server and namespace", a.Spec.Destination, o.name))
		}
		if a.createsNamespace() && !p.permits("", "Namespace", false) {
			problems = append(problems, po.problem([]any{"spec", "clusterResourceWhitelist"}, `Application %s uses %s, and spec.clusterResourceWhitelist does not allow group "" kind Namespace: every sync would fail with "resource :Namespace is not permitted in project %s"; add it`, o.name, createNamespace, po.name))
		}
		problems = append(problems, checkProjectKinds(po, p, o, a, objects)...)
	}
	return problems
}

// checkProjectKinds makes sure the project allows every kind the
// Application deploys from its source directory.
func checkProjectKinds(po *object, p *appProject, o *object, a *application, objects []*object) []Problem {
	if a.Spec.Source == nil || a.Spec.Source.Path == "" {
		return nil
	}
	dir := path.Clean(a.Spec.Source.Path)
	var problems []Problem
	seen := map[string]bool{}
	for _, m := range objects {
		if path.Dir(m.file) != dir || m.kind.apiVersion == "" || m.kind.kind == kustomizationKind.kind {
			continue
		}
		group, _, found := strings.Cut(m.kind.apiVersion, "/")
		if !found {
			group = "" // the core group: apiVersion "v1"
		}
		cluster := m.kind.kind == "Namespace"
		key := group + "/" + m.kind.kind
		if seen[key] || p.permits(group, m.kind.kind, !cluster) {
			continue
		}
		seen[key] = true
		list := "namespaceResourceWhitelist"
		if cluster {
			list = "clusterResourceWhitelist"
		}
		problems = append(problems, po.problem([]any{"spec", list}, "spec.%s does not allow group %q kind %s, which Application %s deploys (%s): the sync would fail with \"resource %s:%s is not permitted in project %s\"; add it", list, group, m.kind.kind, o.name, m.file, group, m.kind.kind, po.name))
	}
	return problems
}

// permits reports whether the project lets an Application deploy a kind, as
// Argo CD decides it: a namespaced kind is allowed by an absent
// namespaceResourceWhitelist, a cluster-scoped kind only by a listed one,
// and a deny list entry wins.
func (p *appProject) permits(group, kind string, namespaced bool) bool {
	allow, deny := p.Spec.ClusterResourceWhitelist, p.Spec.ClusterResourceBlacklist
	if namespaced {
		allow, deny = p.Spec.NamespaceResourceWhitelist, p.Spec.NamespaceResourceBlacklist
		if allow == nil {
			return !resourceListed(deny, group, kind)
		}
	}
	return resourceListed(allow, group, kind) && !resourceListed(deny, group, kind)
}

func resourceListed(list []projectResource, group, kind string) bool {
	return slices.ContainsFunc(list, func(r projectResource) bool { return glob(r.Group, group) && glob(r.Kind, kind) })
}

// repoMatches reports whether a sourceRepos entry permits repoURL. Like Argo
// CD, it compares the URLs case-insensitively and without a trailing .git.
func repoMatches(pattern, repoURL string) bool {
	normalize := func(u string) string {
		return strings.TrimSuffix(strings.TrimSuffix(strings.ToLower(u), "/"), ".git")
	}
	return glob(normalize(pattern), normalize(repoURL))
}

// destinationCovers reports whether a project destination permits an
// Application destination, named by server or by cluster name.
func destinationCovers(d, dest applicationDestination) bool {
	cluster := (d.Server != "" && dest.Server != "" && glob(d.Server, dest.Server)) ||
		(d.Name != "" && dest.Name != "" && glob(d.Name, dest.Name))
	return cluster && glob(d.Namespace, dest.Namespace)
}

// glob matches s against an Argo CD pattern: "*" alone matches anything,
// else the pattern is a path.Match glob (an exact string matches itself).
func glob(pattern, s string) bool {
	if pattern == "*" || pattern == s {
		return true
	}
	ok, err := path.Match(pattern, s)
	return err == nil && ok
}
