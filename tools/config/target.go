package config

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/andrelair-platform/platform-demo/tools/service"
)

// Target is where one service goes live in one environment: its manifest,
// its container, its address, its Argo CD Application. It is the value
// every stage that acts on one service in one environment is handed, and it
// names the variables that set it, so that advice names the one in use.
type Target struct {
	// Service is the service.
	Service service.Service
	// Environment names the environment, Index is its place in the order
	// (0 for the first, which `mage ci` deploys).
	Environment string
	Index       int
	// Path is the manifest the bump edits, Branch its gitops branch and
	// Container the container whose image it sets.
	Path, Branch, Container string
	// VerifyURL is where the service answers in the environment; empty
	// means the local rollout in the local loop, and nothing to ask
	// elsewhere.
	VerifyURL string
	// ArgoApp is the Argo CD Application of the service in the environment.
	ArgoApp string
	// LocalAddr is where the local loop serves it.
	LocalAddr string
	// Probes are the paths the soak requests.
	Probes []string
	// Namespace is the environment's Kubernetes namespace, when declared.
	Namespace string
}

// Name names the target for people and logs: "platform-demo in staging".
func (t Target) Name() string { return t.Service.Name + " in " + t.Environment }

// First reports whether the target is in the first environment.
func (t Target) First() bool { return t.Index == 0 }

// Var is the variable that sets one of the target's fields for one run:
// the plain one (VERIFY_URL) in the first environment, <VARIABLE>_<ENV>
// (VERIFY_URL_PRODUCTION) in the others.
func (t Target) Var(variable string) string {
	if t.First() {
		return variable
	}
	return overrideName(variable, t.Environment)
}

// Key identifies the target in maps and file names: service/environment.
func (t Target) Key() string { return t.Service.Name + "/" + t.Environment }

// Target returns the target of the named service in the named environment.
func (s Settings) Target(svc, env string) (Target, error) {
	for _, t := range s.targets {
		if t.Service.Name == svc && t.Environment == env {
			return t, nil
		}
	}
	if _, err := service.Find(s.Services, svc); err != nil {
		return Target{}, err
	}
	return Target{}, s.noEnvironment(env)
}

// Targets returns the targets of the named environment, one per service,
// in the services' order; only of the named service when svc is not empty.
func (s Settings) Targets(env, svc string) ([]Target, error) {
	if _, err := s.EnvironmentNamed(env); err != nil {
		return nil, err
	}
	if svc != "" {
		t, err := s.Target(svc, env)
		if err != nil {
			return nil, err
		}
		return []Target{t}, nil
	}
	all, err := s.AllTargets()
	if err != nil {
		return nil, err
	}
	var out []Target
	for _, t := range all {
		if t.Environment == env {
			out = append(out, t)
		}
	}
	return out, nil
}

// AllTargets returns every target: each service in each environment.
func (s Settings) AllTargets() ([]Target, error) {
	if len(s.Services) == 0 {
		return nil, errors.New("no services: a service is a directory services/<name> that go.work uses, with a main package; `go tool mage new <name>` makes one")
	}
	return slices.Clone(s.targets), nil
}

// EnvironmentNamed returns the environment named name.
func (s Settings) EnvironmentNamed(name string) (Environment, error) {
	for _, e := range s.Environments {
		if e.Name == name {
			return e, nil
		}
	}
	return Environment{}, s.noEnvironment(name)
}

func (s Settings) noEnvironment(name string) error {
	var names []string
	for _, e := range s.Environments {
		names = append(names, e.Name)
	}
	return fmt.Errorf("no environment %q: the environments are %s (%s)", name, strings.Join(names, ", "), EnvironmentsFile)
}

// First is the first environment, the one `mage ci` deploys.
func (s Settings) First() Environment { return s.Environments[0] }

// Previous returns the environment before the named one, whose verified
// image a promotion takes.
func (s Settings) Previous(name string) (Environment, error) {
	for i, e := range s.Environments {
		if e.Name != name {
			continue
		}
		if i == 0 {
			return Environment{}, fmt.Errorf("%s is the first environment: mage ci deploys it; promote takes an image from one environment to the next", name)
		}
		return s.Environments[i-1], nil
	}
	return Environment{}, s.noEnvironment(name)
}

// LocalDir is the directory of one local part of a target (its rollout's
// binaries and logs, its podman files) in the state directory.
func (s Settings) LocalDir(part string, t Target) string {
	return filepath.Join(s.StateDir, part, t.Service.Name, t.Environment)
}

// portStride is how far apart the local ports of two services are: room
// for ten environments each.
const portStride = 10

// resolveTargets works out every service's target in every environment:
// a field comes from <VARIABLE>_<ENV> (or the plain variable for the first
// environment), else the service's service.yaml, else the environments
// file, else the default; {service} is the service's name. Two services
// may not share a manifest, an address or an Application.
func (l *loader) resolveTargets(s Settings, overrides map[string]map[string]override) []Target {
	var out []Target
	ports, err := localPorts(s)
	if err != nil {
		l.errs = append(l.errs, err)
	}
	for i, e := range s.Environments {
		for _, svc := range s.Services {
			t := Target{Service: svc, Environment: e.Name, Index: i, Namespace: e.Namespace, Probes: svc.Probes()}
			field := func(variable, file string) string {
				if o, ok := overrides[e.Name][variable]; ok {
					return expand(o.value, svc.Name)
				}
				return expand(file, svc.Name)
			}
			path := e.Path
			if p, ok := svc.Overrides.Manifests[e.Name]; ok && p != "" {
				path = p
			}
			t.Path = field("GITOPS_PATH", path)
			t.Branch = field("GITOPS_BRANCH", e.Branch)
			container := e.Container
			if svc.Overrides.Container != "" {
				container = svc.Overrides.Container
			}
			t.Container = field("GITOPS_CONTAINER", container)
			t.VerifyURL = field("VERIFY_URL", e.VerifyURL)
			t.ArgoApp = field("ARGOCD_APP", e.ArgoApp)
			if addr, ok := ports[[2]string{svc.Name, e.Name}]; ok {
				t.LocalAddr = addr
			}
			out = append(out, t)
		}
	}
	l.errs = append(l.errs, distinct(s, out)...)
	return out
}

// distinct refuses two services that share what each must have alone.
func distinct(s Settings, targets []Target) []error {
	var errs []error
	type key struct{ env, what, value string }
	seen := map[key]string{}
	for _, t := range targets {
		for _, f := range []struct{ variable, field, value string }{
			{"GITOPS_PATH", "path", t.Branch + ":" + t.Path},
			{"VERIFY_URL", "verifyURL", t.VerifyURL},
			{"ARGOCD_APP", "argocdApp", t.ArgoApp},
			{"LOCAL_ADDR", "localAddr", t.LocalAddr},
		} {
			if f.value == "" || f.value == ":" || (f.variable == "LOCAL_ADDR" && strings.HasSuffix(f.value, ":0")) {
				continue // port 0: each rollout picks a free one
			}
			k := key{t.Environment, f.variable, f.value}
			if other, ok := seen[k]; ok {
				errs = append(errs, fmt.Errorf("%s and %s would share %s %s in %s: write %s where the service's name goes in %s (or %s of %s in %s)",
					other, t.Service.Name, f.variable, f.value, t.Environment, ServicePlaceholder, t.Var(f.variable), f.field, t.Environment, EnvironmentsFile))
				continue
			}
			seen[k] = t.Service.Name
		}
	}
	return errs
}

// localPorts gives each service in each environment its local address:
// the environment's base address (LOCAL_ADDR, <ENV>'s own, or the first's
// port + n) plus portStride times the service's slot, which its
// service.yaml pins (`mage new` writes the next free one) or, without one,
// is the lowest free slot, in name order. A base port of 0 lets every
// rollout pick a free port.
func localPorts(s Settings) (map[[2]string]string, error) {
	out := map[[2]string]string{}
	type base struct {
		host string
		port int
	}
	bases := make([]base, len(s.Environments))
	for i, e := range s.Environments {
		// An address that is not host:port is refused, naming the variable
		// or the line that set it, where the settings are checked.
		host, portStr, _ := net.SplitHostPort(e.LocalAddr)
		port, _ := strconv.Atoi(portStr)
		bases[i] = base{host, max(0, min(port, 65535))}
	}
	slots, err := localSlots(s.Services)
	if err != nil {
		return out, err
	}
	for _, svc := range s.Services {
		for i, e := range s.Environments {
			port := 0
			if bases[i].port != 0 {
				port = bases[i].port + portStride*slots[svc.Name]
			}
			if port > 65535 {
				return out, fmt.Errorf("service %s in %s: local port %d is past 65535: lower LOCAL_ADDR's port", svc.Name, e.Name, port)
			}
			out[[2]string{svc.Name, e.Name}] = net.JoinHostPort(bases[i].host, strconv.Itoa(port))
		}
	}
	return out, nil
}

// localSlots gives each service its local slot: the one its service.yaml
// pins, else the lowest free one, in name order.
func localSlots(services []service.Service) (map[string]int, error) {
	slots := map[string]int{}
	taken := map[int]string{}
	for _, svc := range services {
		if p := svc.Overrides.LocalSlot; p != nil {
			if other, ok := taken[*p]; ok {
				return nil, fmt.Errorf("services %s and %s both pin localSlot %d in their service.yaml: give one another slot", other, svc.Name, *p)
			}
			taken[*p], slots[svc.Name] = svc.Name, *p
		}
	}
	next := 0
	for _, svc := range services {
		if _, ok := slots[svc.Name]; ok {
			continue
		}
		for taken[next] != "" {
			next++
		}
		taken[next], slots[svc.Name] = svc.Name, next
	}
	return slots, nil
}

// NextSlot is the local slot a new service takes: one past the highest any
// service has, so that no other service moves.
func (s Settings) NextSlot() int {
	slots, _ := localSlots(s.Services)
	next := 0
	for _, n := range slots {
		next = max(next, n+1)
	}
	return next
}
