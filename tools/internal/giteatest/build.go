package giteatest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// Module is the Go module Gitea is built from, and Version the version the
// integration tests pin: the one the findings were made with.
const (
	Module  = "code.gitea.io/gitea"
	Version = "v1.26.0"
)

// buildTags are the tags Gitea's own release builds use for SQLite: the
// only database a throwaway server needs.
const buildTags = "sqlite sqlite_unlock_notify"

// recipe is everything about the build besides the Gitea and Go versions
// that changes the binary; it is part of the cache key, so that a change
// here builds again.
const recipe = "go build -trimpath -tags '" + buildTags + "' -ldflags '-s -w -X main.Version=<version> -X main.Tags=<tags>' CGO_ENABLED=1"

// Build is a Gitea binary and the source it was built from.
type Build struct {
	// Binary is the path of the gitea executable.
	Binary string
	// Source is the module's directory in the module cache: the binary is
	// built without the bindata tag, so it reads its templates and locale
	// files from there (STATIC_ROOT_PATH).
	Source string
	// Built reports that this call built the binary; false when it was
	// found in the cache.
	Built bool
	// Took is how long finding or building the binary took.
	Took time.Duration
}

// BuildOptions says which Gitea to build and where to keep it.
type BuildOptions struct {
	// Version is the module version; Version when empty.
	Version string
	// CacheDir keeps the binaries between runs, one per Gitea version, Go
	// version and platform; empty means platform-demo/gitea in the user's
	// cache directory ($XDG_CACHE_HOME or ~/.cache).
	CacheDir string
	// Env is the environment of the go commands; nil means os.Environ().
	Env []string
}

// Binary returns a Gitea binary of opts.Version built by the go command on
// PATH, building it only when the cache has none: a cold build takes
// minutes, a cached one costs two go commands. Builds started at once by
// several test processes wait for each other on a lock file and build once.
func Binary(ctx context.Context, opts BuildOptions) (Build, error) {
	start := time.Now()
	if opts.Version == "" {
		opts.Version = Version
	}
	if opts.Env == nil {
		opts.Env = os.Environ()
	}
	if opts.CacheDir == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return Build{}, fmt.Errorf("find the cache directory for the Gitea build: %w (set XDG_CACHE_HOME)", err)
		}
		opts.CacheDir = filepath.Join(dir, "platform-demo", "gitea")
	}
	goVersion, err := goOutput(ctx, opts.Env, "", "env", "GOVERSION")
	if err != nil {
		return Build{}, err
	}
	source, err := download(ctx, opts.Env, opts.Version)
	if err != nil {
		return Build{}, err
	}
	sum := sha256.Sum256([]byte(recipe))
	key := fmt.Sprintf("gitea-%s-%s-%s-%s-%s", strings.TrimPrefix(opts.Version, "v"), strings.TrimSpace(goVersion), runtime.GOOS, runtime.GOARCH, hex.EncodeToString(sum[:4]))
	b := Build{Binary: filepath.Join(opts.CacheDir, key, "gitea"), Source: source}
	if executable(b.Binary) {
		b.Took = time.Since(start)
		return b, nil
	}

	if err := os.MkdirAll(filepath.Dir(b.Binary), 0o755); err != nil {
		return Build{}, fmt.Errorf("create the Gitea build cache: %w", err)
	}
	unlock, err := lock(ctx, filepath.Join(opts.CacheDir, key+".lock"))
	if err != nil {
		return Build{}, err
	}
	defer unlock()
	if executable(b.Binary) { // another process built it while this one waited
		b.Took = time.Since(start)
		return b, nil
	}
	tmp := b.Binary + fmt.Sprintf(".tmp%d", os.Getpid())
	defer os.Remove(tmp)
	ldflags := fmt.Sprintf("-s -w -X main.Version=%s -X 'main.Tags=%s'", strings.TrimPrefix(opts.Version, "v"), buildTags)
	env := append(append([]string{}, opts.Env...), "GOWORK=off", "GOFLAGS=-mod=readonly -buildvcs=false", "CGO_ENABLED=1")
	if _, err := goOutput(ctx, env, source, "build", "-trimpath", "-tags", buildTags, "-ldflags", ldflags, "-o", tmp, "."); err != nil {
		return Build{}, fmt.Errorf("build Gitea %s: %w", opts.Version, err)
	}
	if err := os.Rename(tmp, b.Binary); err != nil {
		return Build{}, fmt.Errorf("keep the Gitea build: %w", err)
	}
	b.Built, b.Took = true, time.Since(start)
	return b, nil
}

// download puts the module in the module cache (from the Go module proxy
// the first time) and returns its directory.
func download(ctx context.Context, env []string, version string) (string, error) {
	env = append(append([]string{}, env...), "GOWORK=off")
	out, err := goOutput(ctx, env, os.TempDir(), "mod", "download", "-json", Module+"@"+version)
	if err != nil {
		return "", fmt.Errorf("download %s@%s: %w", Module, version, err)
	}
	var m struct{ Dir, Error string }
	if err := json.Unmarshal([]byte(out), &m); err != nil || m.Dir == "" {
		return "", fmt.Errorf("download %s@%s: no directory in %q (%v %s)", Module, version, out, err, m.Error)
	}
	return m.Dir, nil
}

// goOutput runs the go command in dir and returns its standard output.
func goOutput(ctx context.Context, env []string, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Env, cmd.Dir = env, dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go %s: %w: %s", strings.Join(args[:min(len(args), 2)], " "), err, lastLines(stderr.String(), 15))
	}
	return stdout.String(), nil
}

// lock takes an exclusive lock on path, waiting for another holder until
// ctx ends, and returns its release.
func lock(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock the Gitea build: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("wait for another process's Gitea build (%s): %w", path, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func executable(path string) bool {
	info, err := os.Stat(path)
	return err == nil && info.Mode().IsRegular() && info.Mode().Perm()&0o111 != 0
}

// lastLines returns at most n lines from the end of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
