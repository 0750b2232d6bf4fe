package gitopscheck

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/andrelair-platform/platform-demo/tools/manifest"
)

// recommendedLabels are the Kubernetes recommended labels every object of
// the tree carries, so `kubectl get -l`, dashboards and Argo CD's UI find
// all of an application's objects by the same keys.
var recommendedLabels = []string{
	"app.kubernetes.io/name",
	"app.kubernetes.io/instance",
	"app.kubernetes.io/part-of",
	"app.kubernetes.io/managed-by",
}

// versionLabel is the recommended label this tree leaves out on purpose.
const versionLabel = "app.kubernetes.io/version"

// checkLabels holds every Kubernetes object of the tree to the recommended
// labels, and keeps the version label off: the bump edits the image and the
// source-commit annotation, which are the version, and nothing would keep a
// label in step with them.
func checkLabels(o *object) []Problem {
	m, ok := o.value.(metav1.Object)
	if !ok || o.kind.apiVersion == "" || o.kind.kind == kustomizationKind.kind {
		return nil // not an object the cluster receives
	}
	var problems []Problem
	var missing []string
	for _, k := range recommendedLabels {
		if m.GetLabels()[k] == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		problems = append(problems, o.problem([]any{"metadata", "labels"}, "metadata.labels lacks %s: every object carries the recommended labels (%s), with the same values in every environment, so selectors and dashboards find all of the application", strings.Join(missing, ", "), strings.Join(recommendedLabels, ", ")))
	}
	stale := fmt.Sprintf("the image digest and the %s annotation that the bump writes are the version, and no one would keep this label in step with them; remove it", manifest.SourceCommitAnnotation)
	if _, ok := m.GetLabels()[versionLabel]; ok {
		problems = append(problems, o.problem([]any{"metadata", "labels", versionLabel}, "metadata.labels has %s: %s", versionLabel, stale))
	}
	if d, ok := o.value.(*appsv1.Deployment); ok {
		if _, ok := d.Spec.Template.Labels[versionLabel]; ok {
			problems = append(problems, o.problem([]any{"spec", "template", "metadata", "labels", versionLabel}, "the pod template's labels have %s: %s", versionLabel, stale))
		}
	}
	return problems
}
