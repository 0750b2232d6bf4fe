package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/andrelair-platform/platform-demo/tools/bump"
	"github.com/andrelair-platform/platform-demo/tools/internal/loopback"
	"github.com/andrelair-platform/platform-demo/tools/internal/secret"
)

// checkField returns why value cannot be the field variable sets (one of
// overridable), as words that follow the value in a message, or nil. The
// environments file is held to it when parsed, and the variables when
// they load.
func checkField(variable, value string) error {
	switch variable {
	case "GITOPS_PATH":
		if err := bump.CheckPath(value); err != nil {
			return fmt.Errorf("%w: give the manifest's path inside the gitops repository, such as %s", err, DefaultPath)
		}
	case "GITOPS_BRANCH":
		return bump.CheckBranch(value)
	case "VERIFY_URL":
		if u, err := url.Parse(value); value != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
			return errors.New("is not an http(s) URL: want one such as http://{service}.10.0.0.200.nip.io")
		}
	case "LOCAL_ADDR":
		return checkAddr(value)
	}
	return nil
}

// shown is a field's value as a message shows it: a URL without its
// credentials.
func shown(variable, value string) string {
	if variable == "VERIFY_URL" {
		return secret.URL(value)
	}
	return value
}

// checkAddr returns why addr cannot be an address to listen on, as words
// that follow it in a message, or nil: an IP address (or localhost, or
// nothing for every interface) and a port.
func checkAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			err = errors.New(ae.Err)
		}
		return fmt.Errorf("is not host:port (%v): want an address such as 127.0.0.1:8080", err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return errors.New("has no port number (0 to 65535): want an address such as 127.0.0.1:8080")
	}
	if host != "" && !strings.EqualFold(host, "localhost") && net.ParseIP(host) == nil {
		return errors.New("does not give its host as an IP address: want one such as 127.0.0.1:8080")
	}
	return nil
}

// checkEnvironments checks the values the variables set for the
// environments' fields (the environments file's own values were checked
// when it was parsed, and {service} stands for a name), naming the variable
// that was set, and returns the warnings the settings deserve.
func (l *loader) checkEnvironments(s Settings, overrides map[string]map[string]override) (errs []error, warnings []string) {
	seen := map[string]bool{}
	for _, e := range s.Environments {
		for _, variable := range overridable {
			o, ok := overrides[e.Name][variable]
			if !ok || seen[o.name] {
				continue
			}
			// A variable that sets several environments (the plain one, of
			// the first) is reported once.
			if err := checkField(variable, expand(o.value, "service")); err != nil {
				seen[o.name] = true
				errs = append(errs, fmt.Errorf("%s=%q %w", o.name, shown(variable, o.value), err))
			}
		}
		if s.LocalGitops() && checkAddr(e.LocalAddr) == nil && !loopback.Host(e.LocalAddr) {
			from := "LOCAL_ADDR"
			if o, ok := overrides[e.Name]["LOCAL_ADDR"]; ok {
				from = o.name
			} else if e.line > 0 {
				from = fmt.Sprintf("localAddr of %s, %s:%d", e.Name, EnvironmentsFile, e.line)
			}
			warnings = append(warnings, fmt.Sprintf("the local rollouts of %s serve on %s (%s), %s: other machines can reach them; to keep them on this one, use %s",
				e.Name, e.LocalAddr, from, interfaces(e.LocalAddr), onLoopback(e.LocalAddr)))
		}
	}
	for _, svc := range s.Services {
		for env, p := range svc.Overrides.Manifests {
			if err := bump.CheckPath(p); err != nil {
				errs = append(errs, fmt.Errorf("%s/%s: manifests of %s: %q %w", svc.Dir, "service.yaml", env, p, err))
			}
		}
	}
	return errs, warnings
}

// interfaces says where a listener on addr, not a loopback address, can
// be reached.
func interfaces(addr string) string {
	host, _, _ := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		return "every interface of this machine"
	}
	return "an address of this machine's network"
}

// onLoopback is addr's port on 127.0.0.1.
func onLoopback(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return net.JoinHostPort("127.0.0.1", port)
}

// StrayOverrides returns a warning for each variable of environ that has
// the form of an override (<VARIABLE>_<ENV>, e.g. VERIFY_URL_QA) but names
// no environment of s: it changes nothing, which its author did not mean.
// Load cannot see them, as it asks for the variables it knows by name; a
// target adds them to s.Warnings from its whole environment.
func (s Settings) StrayOverrides(environ []string) []string {
	known := map[string]bool{}
	var names []string
	for _, e := range s.Environments {
		known[overrideName("", e.Name)] = true
		names = append(names, e.Name)
	}
	where := EnvironmentsFile
	if len(s.Environments) == 1 && s.Environments[0].Name == DefaultEnvironment {
		where = "no " + EnvironmentsFile + ": the settings are the one environment"
	}
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		for _, variable := range overridable {
			suffix, ok := strings.CutPrefix(name, variable+"_")
			if !ok || suffix == "" || known["_"+suffix] {
				continue
			}
			out = append(out, fmt.Sprintf("%s is set, but there is no environment %s: it changes nothing (the environments are %s, %s)",
				name, strings.ToLower(strings.ReplaceAll(suffix, "_", "-")), strings.Join(names, ", "), where))
		}
	}
	sort.Strings(out)
	return out
}
