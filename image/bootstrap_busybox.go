package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path"
	"sort"
	"strings"

	"github.com/stack-dev/stack/internal/errdefs"
)

// busyboxFiles are the files of the busybox image besides the binary and
// its links: users root and nobody, as in docker's busybox image, and the
// page the hello example's web server serves.
var busyboxFiles = map[string]string{
	"etc/passwd":         "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
	"etc/group":          "root:x:0:\nnobody:x:65534:\n",
	"var/www/index.html": "hello from busybox\n",
}

// busyboxDirs are the directories every busybox image has, with modes;
// /tmp is world-writable and sticky.
var busyboxDirs = map[string]int64{
	"bin": 0o755, "dev": 0o755, "etc": 0o755, "home": 0o755, "proc": 0o755, "root": 0o700,
	"sbin": 0o755, "sys": 0o755, "tmp": 0o1777, "usr": 0o755, "usr/bin": 0o755, "usr/sbin": 0o755,
	"var": 0o755, "var/www": 0o755,
}

// bootstrapBusybox stores a busybox image made from the host's static
// busybox binary. The layer is written directly as a tar (owned by root
// whoever runs it), with the binary's mtime on every entry, so the same
// binary always gives the same layer and image ID.
func bootstrapBusybox(ctx context.Context, imp Importer, ref string, opts BootstrapOptions) (Image, error) {
	bin := opts.Busybox
	if bin == "" {
		bin = "/bin/busybox"
	}
	layer, fi, err := busyboxLayer(ctx, bin)
	if err != nil {
		return Image{}, fmt.Errorf("bootstrap %s: %w", FamiliarReference(ref), err)
	}
	img, err := imp.ImportRootfs(ctx, ref, RootfsOptions{
		Tar:       bytes.NewReader(layer),
		Config:    Config{Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, Cmd: []string{"sh"}},
		Created:   fi.ModTime(),
		CreatedBy: "stack image bootstrap busybox (from the host's " + bin + ")",
	})
	if err != nil {
		return Image{}, fmt.Errorf("bootstrap %s: %w", FamiliarReference(ref), err)
	}
	opts.log("made %s from %s (%d bytes)", FamiliarReference(ref), bin, len(layer))
	return img, nil
}

// busyboxLayer returns the layer tar of the busybox image.
func busyboxLayer(ctx context.Context, bin string) ([]byte, os.FileInfo, error) {
	fi, err := os.Stat(bin)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: install it with `apt-get install busybox-static`", err)
	}
	if err := checkStatic(bin); err != nil {
		return nil, nil, err
	}
	out, err := exec.CommandContext(ctx, bin, "--list-full").Output()
	if err != nil {
		return nil, nil, fmt.Errorf("%s --list-full: %w", bin, err)
	}
	body, err := os.ReadFile(bin)
	if err != nil {
		return nil, nil, err
	}
	mtime := fi.ModTime()
	entries := map[string]*tar.Header{}
	dirs := func(p string) {
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			if entries[d] == nil {
				mode, ok := busyboxDirs[d]
				if !ok {
					mode = 0o755
				}
				entries[d] = &tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: mode}
			}
		}
	}
	for d, mode := range busyboxDirs {
		dirs(d + "/x")
		entries[d].Mode = mode
	}
	content := map[string][]byte{"bin/busybox": body}
	entries["bin/busybox"] = &tar.Header{Typeflag: tar.TypeReg, Name: "bin/busybox", Mode: 0o755, Size: int64(len(body))}
	for name, text := range busyboxFiles {
		dirs(name)
		content[name] = []byte(text)
		entries[name] = &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(text))}
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		name := path.Clean(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "/"))
		if name == "." || strings.HasPrefix(name, "..") || entries[name] != nil {
			continue
		}
		dirs(name)
		entries[name] = &tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: "/bin/busybox", Mode: 0o777}
	}
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	sort.Strings(names) // a parent sorts before its children
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		h := entries[n]
		h.ModTime, h.Format = mtime, tar.FormatPAX
		if err := tw.WriteHeader(h); err != nil {
			return nil, nil, err
		}
		if c, ok := content[n]; ok {
			if _, err := tw.Write(c); err != nil {
				return nil, nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, nil, err
	}
	return buf.Bytes(), fi, nil
}

// checkStatic refuses a dynamically linked busybox: in an image without
// the host's libraries it could not start.
func checkStatic(bin string) error {
	f, err := elf.Open(bin)
	if err != nil {
		return fmt.Errorf("%s: %v: %w", bin, err, errdefs.ErrInvalidArgument)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked: install a static busybox with `apt-get install busybox-static`: %w", bin, errdefs.ErrFailedPrecondition)
		}
	}
	return nil
}
