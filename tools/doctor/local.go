package doctor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/andrelair-platform/platform-demo/tools/local/podman"
)

// stateDir checks that the local loop can keep its state: the embedded
// registry's storage, the local gitops repository and the local rollout.
func (d *doctor) stateDir(context.Context) []Row {
	row := Row{Check: CheckState}
	if !d.s.LocalRegistry() && !d.s.LocalGitops() {
		row.Found = "not needed: no local registry or gitops repository"
		return []Row{row}
	}
	// The directory is created on first use, so a missing one is fine when
	// its nearest existing parent is writable.
	dir := d.s.StateDir
	for {
		info, err := os.Stat(dir)
		if err == nil && !info.IsDir() {
			row.Status, row.Found = Fail, dir+" is a file, not a directory"
			row.Fix = "remove it, or set PIPELINE_STATE_DIR to another directory"
			return []Row{row}
		}
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) || filepath.Dir(dir) == dir {
			row.Status, row.Found = Fail, fmt.Sprintf("cannot use %s: %v", d.s.StateDir, err)
			row.Fix = "set PIPELINE_STATE_DIR to a writable directory"
			return []Row{row}
		}
		dir = filepath.Dir(dir)
	}
	f, err := os.CreateTemp(dir, ".doctor-")
	if err != nil {
		row.Status, row.Found = Fail, fmt.Sprintf("%s is not writable: %v", dir, err)
		row.Fix = "fix its permissions, or set PIPELINE_STATE_DIR to a writable directory"
		return []Row{row}
	}
	f.Close()
	os.Remove(f.Name())
	if dir == d.s.StateDir {
		row.Found = d.s.StateDir + " is writable"
	} else {
		row.Found = fmt.Sprintf("%s is created on first use (%s is writable)", d.s.StateDir, dir)
	}
	return []Row{row}
}

// git checks that git is installed: the build reads the commit with it, and
// the local loop keeps its gitops repository in it.
func (d *doctor) git(ctx context.Context) []Row {
	row := Row{Check: CheckGit}
	path, err := exec.LookPath("git")
	if err != nil {
		row.Status, row.Found = Fail, "git is not on PATH"
		row.Fix = "install git: the build reads the commit from it"
		return []Row{row}
	}
	out, err := exec.CommandContext(ctx, path, "--version").Output()
	if err != nil {
		row.Status, row.Found = Fail, fmt.Sprintf("%s --version: %v", path, err)
		row.Fix = "reinstall git"
		return []Row{row}
	}
	row.Found = strings.TrimSpace(string(out))
	return []Row{row}
}

// runtime checks, with LOCAL_RUNTIME=podman, the programs the local rollout
// runs the pod with: podman, runc, and catatonit, which a podman installed
// without its recommended packages lacks. The default runtime, a host
// process, needs nothing and has no row.
func (d *doctor) runtime(context.Context) []Row {
	if d.s.LocalRuntime != "podman" {
		return nil
	}
	row := Row{Check: CheckRuntime}
	p, err := podman.Find("", d.opts.PodmanHelperDirs)
	if err == nil {
		row.Found = fmt.Sprintf("podman: %s, runc: %s, catatonit: %s", p.Podman, p.Runc, p.Catatonit)
		return []Row{row}
	}
	var found, pkgs []string
	for _, e := range unjoin(err) {
		var m *podman.MissingError
		if !errors.As(e, &m) {
			found = append(found, e.Error())
			continue
		}
		found = append(found, fmt.Sprintf("%s not found in %s (%s)", m.Program, m.Where, m.Why))
		pkgs = append(pkgs, m.Package)
	}
	row.Status, row.Found = Fail, "podman: "+strings.Join(found, "; ")
	row.Fix = "apt-get install " + strings.Join(pkgs, " ") + " (.ci/run installs them), or set LOCAL_RUNTIME=process"
	return []Row{row}
}
