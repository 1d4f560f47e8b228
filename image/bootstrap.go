package image

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"

	"github.com/stack-dev/stack/internal/errdefs"
)

// BootstrapOptions control [Bootstrap].
type BootstrapOptions struct {
	// CacheDir keeps the root filesystem tarballs that debootstrapping
	// makes, so that a second bootstrap only imports. Required for
	// debian.
	CacheDir string
	// Mirror is the Debian mirror. Optional: the first one the host's
	// /etc/apt/sources.list or sources.list.d/*.sources names, else
	// http://deb.debian.org/debian.
	Mirror string
	// Refresh rebuilds a cached tarball. Optional.
	Refresh bool
	// Busybox is the static busybox binary. Optional: /bin/busybox.
	Busybox string
	// Log receives the progress of the bootstrap, a line at a time.
	// Optional.
	Log func(line string)
}

func (o BootstrapOptions) log(format string, args ...any) {
	if o.Log != nil {
		o.Log(fmt.Sprintf(format, args...))
	}
}

// Bootstrap makes a base image from what this machine has, for hosts that
// reach no registry, and stores it through imp under the name ref:
//
//   - "busybox" (any tag): the host's static busybox binary with its
//     applet links, /etc/passwd and /etc/group (root, nobody), /tmp and a
//     /var/www/index.html, which is what a first `stack up` of the hello
//     example needs;
//   - "debian:SUITE" (bookworm, trixie, ...): a minbase Debian from the
//     package mirror with mmdebstrap, cached as a tarball under
//     opts.CacheDir.
//
// Each is a one-layer image. Bootstrapping again replaces the name.
func Bootstrap(ctx context.Context, imp Importer, ref string, opts BootstrapOptions) (Image, error) {
	r, err := ParseReference(ref)
	if err != nil {
		return Image{}, fmt.Errorf("bootstrap: %w", err)
	}
	switch {
	case r.Domain == DefaultDomain && r.Path == "library/busybox":
		return bootstrapBusybox(ctx, imp, r.String(), opts)
	case r.Domain == DefaultDomain && r.Path == "library/debian" && r.Digest == "":
		return bootstrapDebian(ctx, imp, r, opts)
	}
	return Image{}, fmt.Errorf("bootstrap %s: only busybox and debian:SUITE (e.g. debian:bookworm) can be made locally: %w", ref, errdefs.ErrInvalidArgument)
}

// debianArch maps GOARCH to Debian's architecture names where they differ.
func debianArch() string {
	switch goruntime.GOARCH {
	case "arm":
		return "armhf"
	case "386":
		return "i386"
	case "ppc64le":
		return "ppc64el"
	}
	return goruntime.GOARCH
}

func bootstrapDebian(ctx context.Context, imp Importer, r Reference, opts BootstrapOptions) (Image, error) {
	suite := r.Tag
	if suite == "" || suite == "latest" {
		suite = "bookworm"
	}
	if opts.CacheDir == "" {
		return Image{}, fmt.Errorf("bootstrap %s: no cache directory: %w", r.Familiar(), errdefs.ErrInvalidArgument)
	}
	if err := os.MkdirAll(opts.CacheDir, 0o700); err != nil {
		return Image{}, fmt.Errorf("bootstrap %s: %w", r.Familiar(), err)
	}
	tarball := filepath.Join(opts.CacheDir, fmt.Sprintf("debian-%s-%s.tar", suite, debianArch()))
	if _, err := os.Stat(tarball); err != nil || opts.Refresh {
		if err := debootstrap(ctx, suite, tarball, opts); err != nil {
			return Image{}, fmt.Errorf("bootstrap %s: %w", r.Familiar(), err)
		}
	} else {
		opts.log("using the cached root filesystem %s", tarball)
	}
	f, err := os.Open(tarball)
	if err != nil {
		return Image{}, fmt.Errorf("bootstrap %s: %w", r.Familiar(), err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Image{}, fmt.Errorf("bootstrap %s: %w", r.Familiar(), err)
	}
	opts.log("importing %s", tarball)
	img, err := imp.ImportRootfs(ctx, r.String(), RootfsOptions{
		Tar: f,
		Config: Config{
			Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			Cmd: []string{"bash"},
		},
		// The tarball's time, so that importing the same tarball again
		// gives the same image ID.
		Created:   fi.ModTime(),
		CreatedBy: "stack image bootstrap " + r.Familiar() + " (mmdebstrap --variant=minbase " + suite + ")",
	})
	if err != nil {
		return Image{}, fmt.Errorf("bootstrap %s: %w", r.Familiar(), err)
	}
	return img, nil
}

// debootstrap writes a minbase root filesystem of suite as the tar out
// with mmdebstrap. It needs root: mmdebstrap's root mode chroots into the
// new system to configure its packages. The tarball is written aside and
// renamed, so an interrupted bootstrap leaves no half tarball in the
// cache.
func debootstrap(ctx context.Context, suite, out string, opts BootstrapOptions) error {
	bin, err := exec.LookPath("mmdebstrap")
	if err != nil {
		return fmt.Errorf("mmdebstrap is not installed: install it with `apt-get install -y mmdebstrap`: %w", errdefs.ErrFailedPrecondition)
	}
	mirror := opts.Mirror
	if mirror == "" {
		mirror = HostDebianMirror()
	}
	tmp := out + ".partial.tar"
	defer os.Remove(tmp)
	args := []string{
		"--variant=minbase", "--mode=root", "--format=tar",
		// No device nodes: the runtime mounts /dev, and a layer with
		// device nodes cannot be unpacked in a user namespace.
		"--skip=output/dev",
		"--aptopt=Acquire::Languages \"none\"",
		suite, tmp, mirror,
	}
	opts.log("running mmdebstrap %s (mirror %s)", suite, mirror)
	cmd := exec.CommandContext(ctx, bin, args...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	var tail []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			opts.log("%s", line)
			if tail = append(tail, line); len(tail) > 10 {
				tail = tail[1:]
			}
		}
	}()
	err = cmd.Run()
	pw.Close()
	<-done
	if err != nil {
		return fmt.Errorf("mmdebstrap %s %s: %w: %s", suite, mirror, err, strings.Join(tail, "; "))
	}
	return os.Rename(tmp, out)
}

// HostDebianMirror returns the first Debian mirror of the host's apt
// sources (the mirror this machine can reach), or deb.debian.org.
func HostDebianMirror() string {
	var files []string
	files = append(files, "/etc/apt/sources.list")
	more, _ := filepath.Glob("/etc/apt/sources.list.d/*")
	files = append(files, more...)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if m := mirrorIn(string(b), strings.HasSuffix(f, ".sources")); m != "" {
			return m
		}
	}
	return "http://deb.debian.org/debian"
}

// mirrorIn finds the first main Debian archive URI (not the security
// archive) in a one-line-style or deb822-style sources file.
func mirrorIn(content string, deb822 bool) string {
	for _, line := range strings.Split(content, "\n") {
		f := strings.Fields(line)
		var uris []string
		switch {
		case len(f) == 0 || strings.HasPrefix(f[0], "#"):
			continue
		case deb822 && strings.EqualFold(f[0], "URIs:"):
			uris = f[1:]
		case !deb822 && f[0] == "deb":
			uris = f[1:] // options in [...] are not URLs
		}
		for _, u := range uris {
			if (strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://")) && !strings.Contains(u, "security") {
				return strings.TrimSuffix(u, "/")
			}
		}
	}
	return ""
}
