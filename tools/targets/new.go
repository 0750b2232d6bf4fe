package targets

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/andrelair-platform/platform-demo/tools/config"
	"github.com/andrelair-platform/platform-demo/tools/scaffold"
)

// New writes a new service, name, into the repository: its module on the
// service kit with a main and its tests, added to go.work; its manifests in
// every environment; its Argo CD Applications and Homer tile. Nothing is
// written when the name cannot be taken.
func New(ctx context.Context, e Env, name string) error {
	s, err := e.settings()
	if err != nil {
		return err
	}
	var envs []scaffold.Environment
	for _, env := range s.Environments {
		host := ""
		if pattern := fileVerifyURL(e.Root, env.Name); pattern != "" {
			if u, err := url.Parse(strings.ReplaceAll(pattern, config.ServicePlaceholder, name)); err == nil {
				host = u.Hostname()
			}
		}
		expand := func(p string) string { return strings.ReplaceAll(p, config.ServicePlaceholder, name) }
		envs = append(envs, scaffold.Environment{
			Name: env.Name, Manifest: expand(env.Path), Namespace: env.Namespace,
			Host: host, App: expand(env.ArgoApp), Branch: env.Branch,
		})
	}
	res, err := scaffold.Service(ctx, scaffold.Options{Root: e.Root, Name: name, Environments: envs, LocalSlot: s.NextSlot(), Env: e.Environ})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "new service %s:\n", name)
	for _, f := range res.Created {
		fmt.Fprintf(e.Stdout, "  created %s\n", f)
	}
	for _, f := range res.Edited {
		fmt.Fprintf(e.Stdout, "  edited  %s\n", f)
	}
	fmt.Fprintf(e.Stdout, "next: git add -A && git commit -m \"%s: a new service\" && go tool mage ci\n", name)
	return nil
}

// fileVerifyURL is the environment's verifyURL as the environments file
// writes it: the cluster's address, which the local loop's settings leave
// out but a new service's Ingress is named after.
func fileVerifyURL(root, env string) string {
	envs, err := config.ReadEnvironments(root)
	if err != nil {
		return ""
	}
	for _, e := range envs {
		if e.Name == env {
			return e.VerifyURL
		}
	}
	return ""
}
