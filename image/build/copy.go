package build

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"

	"github.com/stack-dev/stack/internal/errdefs"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// readDockerignore reads the context's .dockerignore, if any.
func readDockerignore(ctxDir string) (*patternmatcher.PatternMatcher, error) {
	f, err := os.Open(filepath.Join(ctxDir, ".dockerignore"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read .dockerignore: %w", err)
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf(".dockerignore: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return nil, fmt.Errorf(".dockerignore: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	return pm, nil
}

// runStep carries out RUN.
func (r *run) runStep(ctx context.Context, i int, st *state, c *instructions.RunCommand) (bool, error) {
	if len(c.Files) > 0 {
		return false, fmt.Errorf("RUN with a here-document: %w", errdefs.ErrNotImplemented)
	}
	if len(c.FlagsUsed) > 0 {
		return false, fmt.Errorf("RUN --%s: %w", c.FlagsUsed[0], errdefs.ErrNotImplemented)
	}
	args := r.withShell(st, c.ShellDependantCmdLine)
	env := st.env()
	cfg := st.file.Config
	key := stepKey{Step: append([]string{"RUN"}, args...), Env: env, User: cfg.User, WorkDir: cfg.WorkingDir}
	createdBy := "RUN " + strings.Join(args, " ")
	return r.fsStep(ctx, st, key, createdBy, func(rootfs string) error {
		wd := cfg.WorkingDir
		if wd == "" {
			wd = "/"
		}
		out := &tailWriter{emit: func(s string) {
			r.progress(Event{Kind: StepOutput, Step: r.step, Stage: r.stageName(i), Output: s})
		}}
		err := r.b.opts.Executor.Run(ctx, RunSpec{
			Rootfs: rootfs, Args: args, Env: env, User: cfg.User, WorkDir: wd, Output: out,
		})
		out.flush()
		if err != nil {
			if tail := out.tail(); tail != "" {
				return fmt.Errorf("%w; last output:\n%s", err, tail)
			}
			return err
		}
		return nil
	})
}

// tailWriter passes on complete lines and keeps the last ones for the
// error of a failing step.
type tailWriter struct {
	emit  func(string)
	buf   []byte
	lines []string
}

const tailLines = 20

func (w *tailWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.line(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

func (w *tailWriter) line(s string) {
	s = strings.TrimRight(s, "\r")
	w.emit(s)
	w.lines = append(w.lines, s)
	if len(w.lines) > tailLines {
		w.lines = w.lines[len(w.lines)-tailLines:]
	}
}

func (w *tailWriter) flush() {
	if len(w.buf) > 0 {
		w.line(string(w.buf))
		w.buf = nil
	}
}

func (w *tailWriter) tail() string { return strings.Join(w.lines, "\n") }

// copyArgs are the parts of COPY and ADD that matter to the copy.
type copyArgs struct {
	cmd    string // COPY or ADD
	sad    instructions.SourcesAndDest
	from   string
	chown  string
	chmod  string
	unpack bool // ADD: extract local tar archives
}

// source is a file or tree to copy: its path on the host and its name
// relative to the source root.
type source struct {
	path string
	rel  string
}

// copyStep carries out COPY and ADD.
func (r *run) copyStep(ctx context.Context, i int, st *state, a copyArgs) (bool, error) {
	if len(a.sad.SourceContents) > 0 {
		return false, fmt.Errorf("%s with a here-document: %w", a.cmd, errdefs.ErrNotImplemented)
	}
	for _, s := range a.sad.SourcePaths {
		if strings.Contains(s, "://") || strings.HasPrefix(s, "git@") {
			return false, fmt.Errorf("%s from a URL (%s): download it into the build context instead: %w", a.cmd, s, errdefs.ErrNotImplemented)
		}
	}
	var mode *os.FileMode
	if a.chmod != "" {
		m, err := strconv.ParseUint(a.chmod, 8, 32)
		if err != nil || m > 0o7777 {
			return false, fmt.Errorf("--chmod=%s: an octal mode is required: %w", a.chmod, errdefs.ErrInvalidArgument)
		}
		fm := os.FileMode(m)
		mode = &fm
	}
	dest := a.sad.DestPath
	if !path.IsAbs(dest) {
		wd := st.file.Config.WorkingDir
		if wd == "" {
			wd = "/"
		}
		trailing := strings.HasSuffix(dest, "/") || dest == "." || strings.HasSuffix(dest, "/.")
		dest = path.Join(wd, dest)
		if trailing {
			dest += "/"
		}
	}
	key := stepKey{Step: []string{a.cmd, "--chown=" + a.chown, "--chmod=" + a.chmod, "unpack=" + strconv.FormatBool(a.unpack && a.cmd == "ADD"), "dest=" + dest}}
	key.Step = append(key.Step, a.sad.SourcePaths...)
	createdBy := a.cmd + " " + strings.Join(a.sad.SourcePaths, " ") + " " + a.sad.DestPath

	// Sources from another stage or image are identified by that
	// filesystem's chain; sources from the context by their content.
	var fromState *state
	if a.from != "" {
		if j, ok := r.df.stageIndex(a.from, i); ok {
			fromState = r.stages[j]
			if fromState == nil {
				return false, fmt.Errorf("--from=%s: stage not built: %w", a.from, errdefs.ErrFailedPrecondition)
			}
		} else {
			s, err := r.baseImage(ctx, a.from)
			if err != nil {
				return false, fmt.Errorf("--from=%s: %w", a.from, err)
			}
			fromState = s
		}
		key.Inputs = "from:" + fromState.chainID()
		createdBy = a.cmd + " --from=" + a.from + " " + strings.Join(a.sad.SourcePaths, " ") + " " + a.sad.DestPath
	} else {
		srcs, err := r.contextSources(a.sad.SourcePaths)
		if err != nil {
			return false, err
		}
		h, err := r.hashSources(srcs)
		if err != nil {
			return false, err
		}
		key.Inputs = h
	}
	return r.fsStep(ctx, st, key, createdBy, func(rootfs string) error {
		srcs := []source(nil)
		if fromState != nil {
			dirs, err := r.layerDirs(ctx, fromState)
			if err != nil {
				return err
			}
			work, err := os.MkdirTemp(r.b.opts.WorkDir, "from-")
			if err != nil {
				return err
			}
			defer r.b.opts.Storage.Remove(work)
			fromRoot, err := r.b.opts.Storage.Mount(ctx, work, dirs)
			if err != nil {
				return fmt.Errorf("mount --from=%s: %w", a.from, err)
			}
			if srcs, err = globIn(fromRoot, a.sad.SourcePaths, nil); err != nil {
				return err
			}
		} else {
			var err error
			if srcs, err = r.contextSources(a.sad.SourcePaths); err != nil {
				return err
			}
		}
		own, err := resolveOwner(rootfs, a.chown)
		if err != nil {
			return err
		}
		c := copier{ctx: ctx, rootfs: rootfs, own: own, mode: mode, ignore: nil}
		if fromState == nil {
			c.ignore, c.ctxDir = r.ignore, r.ctxDir
		}
		return c.copyAll(srcs, dest, a.cmd == "ADD" && a.unpack)
	})
}

// contextSources expands the source patterns of a COPY against the build
// context, leaving out what .dockerignore excludes.
func (r *run) contextSources(patterns []string) ([]source, error) {
	return globIn(r.ctxDir, patterns, r.ignore)
}

// globIn expands patterns (paths or globs relative to root, never
// leaving it) into the sources they name.
func globIn(root string, patterns []string, ignore *patternmatcher.PatternMatcher) ([]source, error) {
	var out []source
	for _, p := range patterns {
		rel := strings.TrimPrefix(path.Clean("/"+p), "/")
		var matches []string
		if strings.ContainsAny(rel, "*?[") {
			m, err := filepath.Glob(filepath.Join(root, rel))
			if err != nil {
				return nil, fmt.Errorf("source %q: %v: %w", p, err, errdefs.ErrInvalidArgument)
			}
			matches = m
		} else {
			full, err := securejoin.SecureJoin(root, rel)
			if err != nil {
				return nil, err
			}
			if rel == "" {
				full = root
			}
			if _, err := os.Lstat(full); err == nil {
				matches = []string{full}
			}
		}
		n := 0
		for _, m := range matches {
			mrel, err := filepath.Rel(root, m)
			if err != nil || strings.HasPrefix(mrel, "..") {
				continue
			}
			if ignored(ignore, mrel) {
				continue
			}
			out = append(out, source{path: m, rel: filepath.ToSlash(mrel)})
			n++
		}
		if n == 0 {
			return nil, fmt.Errorf("source %q: not found in the build context, or excluded by .dockerignore: %w", p, errdefs.ErrNotFound)
		}
	}
	return out, nil
}

func ignored(pm *patternmatcher.PatternMatcher, rel string) bool {
	if pm == nil || rel == "." || rel == "" {
		return false
	}
	ok, err := pm.MatchesOrParentMatches(filepath.ToSlash(rel))
	return err == nil && ok
}

// hashSources hashes the names, modes, link targets and contents of the
// sources and everything under them, so that the cache follows content
// and not modification times.
func (r *run) hashSources(srcs []source) (string, error) {
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for _, s := range srcs {
		fmt.Fprintf(h, "source %s\n", s.rel)
		err := filepath.WalkDir(s.path, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(r.ctxDir, p)
			if p != s.path && ignored(r.ignore, rel) {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			sub, _ := filepath.Rel(s.path, p)
			fmt.Fprintf(h, "%s %o\n", filepath.ToSlash(sub), fi.Mode())
			switch {
			case fi.Mode()&fs.ModeSymlink != 0:
				t, err := os.Readlink(p)
				if err != nil {
					return err
				}
				fmt.Fprintf(h, "-> %s\n", t)
			case fi.Mode().IsRegular():
				f, err := os.Open(p)
				if err != nil {
					return err
				}
				fmt.Fprintf(h, "%d\n", fi.Size())
				_, err = io.CopyBuffer(h, f, buf)
				f.Close()
				if err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return "", fmt.Errorf("read build context: %w", err)
		}
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// owner is the uid and gid copied files get.
type owner struct{ uid, gid int }

// resolveOwner resolves --chown=user[:group] with the image's /etc/passwd
// and /etc/group. Without --chown files belong to root, as in docker.
func resolveOwner(rootfs, spec string) (owner, error) {
	if spec == "" {
		return owner{}, nil
	}
	u, g, hasGroup := strings.Cut(spec, ":")
	var o owner
	var err error
	primary := -1
	if o.uid, err = strconv.Atoi(u); err != nil {
		o.uid, primary, err = lookupUser(rootfs, u)
		if err != nil {
			return o, fmt.Errorf("--chown=%s: %w", spec, err)
		}
	}
	switch {
	case !hasGroup && primary >= 0:
		o.gid = primary
	case !hasGroup:
		o.gid = o.uid
	default:
		if o.gid, err = strconv.Atoi(g); err != nil {
			if o.gid, err = lookupGroup(rootfs, g); err != nil {
				return o, fmt.Errorf("--chown=%s: %w", spec, err)
			}
		}
	}
	return o, nil
}

// lookupUser finds name in the image's /etc/passwd.
func lookupUser(rootfs, name string) (uid, gid int, err error) {
	fields, err := lookupEntry(rootfs, "/etc/passwd", name, 4)
	if err != nil {
		return 0, 0, err
	}
	uid, err1 := strconv.Atoi(fields[2])
	gid, err2 := strconv.Atoi(fields[3])
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("user %q: malformed /etc/passwd entry: %w", name, errdefs.ErrInvalidArgument)
	}
	return uid, gid, nil
}

func lookupGroup(rootfs, name string) (int, error) {
	fields, err := lookupEntry(rootfs, "/etc/group", name, 3)
	if err != nil {
		return 0, err
	}
	gid, err := strconv.Atoi(fields[2])
	if err != nil {
		return 0, fmt.Errorf("group %q: malformed /etc/group entry: %w", name, errdefs.ErrInvalidArgument)
	}
	return gid, nil
}

func lookupEntry(rootfs, file, name string, minFields int) ([]string, error) {
	p, err := securejoin.SecureJoin(rootfs, file)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("%q: the image has no %s: use a numeric id: %w", name, file, errdefs.ErrInvalidArgument)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) >= minFields && fields[0] == name {
			return fields, nil
		}
	}
	return nil, fmt.Errorf("%q is not in the image's %s: %w", name, file, errdefs.ErrInvalidArgument)
}

// copier copies sources into a step's root filesystem.
type copier struct {
	ctx    context.Context
	rootfs string
	own    owner
	mode   *os.FileMode
	ignore *patternmatcher.PatternMatcher
	ctxDir string
}

// copyAll copies srcs to dest as docker does: a directory's contents go
// into dest; a file goes to dest, or into it when dest ends in "/", is a
// directory, or there are several sources. unpack extracts local tar
// archives into dest (ADD).
func (c *copier) copyAll(srcs []source, dest string, unpack bool) error {
	intoDir := strings.HasSuffix(dest, "/") || len(srcs) > 1
	target, err := securejoin.SecureJoin(c.rootfs, dest)
	if err != nil {
		return err
	}
	if fi, err := os.Stat(target); err == nil && fi.IsDir() {
		intoDir = true
	}
	for _, s := range srcs {
		fi, err := os.Lstat(s.path)
		if err != nil {
			return err
		}
		switch {
		case fi.IsDir():
			if err := c.mkdirs(dest); err != nil {
				return err
			}
			if err := c.tree(s.path, target); err != nil {
				return err
			}
		case unpack && fi.Mode().IsRegular():
			ok, err := c.extract(s.path, dest)
			if err != nil {
				return fmt.Errorf("extract %s: %w", s.rel, err)
			}
			if ok {
				continue
			}
			fallthrough
		default:
			to := dest
			if intoDir {
				to = path.Join(dest, path.Base(s.rel))
			}
			if err := c.mkdirs(path.Dir(to)); err != nil {
				return err
			}
			p, err := securejoin.SecureJoin(c.rootfs, to)
			if err != nil {
				return err
			}
			if err := c.entry(s.path, p, fi); err != nil {
				return err
			}
		}
	}
	return nil
}

// mkdirs creates dir and its missing parents in the root filesystem,
// owned by root with mode 0755.
func (c *copier) mkdirs(dir string) error {
	return mkdirIn(c.rootfs, dir)
}

// mkdirIn creates dir (absolute in the image) under rootfs, resolving
// symlinks inside rootfs.
func mkdirIn(rootfs, dir string) error {
	p, err := securejoin.SecureJoin(rootfs, dir)
	if err != nil {
		return err
	}
	return os.MkdirAll(p, 0o755)
}

// tree copies the contents of the directory src into dst.
func (c *copier) tree(src, dst string) error {
	type dirTime struct {
		path string
		mt   time.Time
	}
	var dirs []dirTime
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := c.ctx.Err(); err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if c.ignore != nil {
			if crel, err := filepath.Rel(c.ctxDir, p); err == nil && p != src && ignored(c.ignore, crel) {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if err := c.entry(p, target, fi); err != nil {
			return err
		}
		if fi.IsDir() {
			dirs = append(dirs, dirTime{target, fi.ModTime()})
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Directory times last: writing into a directory changes its time.
	for i := len(dirs) - 1; i >= 0; i-- {
		os.Chtimes(dirs[i].path, dirs[i].mt, dirs[i].mt)
	}
	return nil
}

// entry copies one file, directory or symlink src to target, giving it
// the copier's owner and mode and src's modification time.
func (c *copier) entry(src, target string, fi fs.FileInfo) error {
	mode := fi.Mode().Perm() | fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)
	if c.mode != nil {
		mode = *c.mode
	}
	switch {
	case fi.IsDir():
		if existing, err := os.Lstat(target); err == nil && !existing.IsDir() {
			if err := os.Remove(target); err != nil {
				return err
			}
		}
		if err := os.Mkdir(target, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	case fi.Mode()&fs.ModeSymlink != 0:
		link, err := os.Readlink(src)
		if err != nil {
			return err
		}
		os.RemoveAll(target)
		if err := os.Symlink(link, target); err != nil {
			return err
		}
		return os.Lchown(target, c.own.uid, c.own.gid)
	case fi.Mode().IsRegular():
		if existing, err := os.Lstat(target); err == nil && existing.IsDir() {
			return fmt.Errorf("copy %s: %s is a directory in the image: %w", filepath.Base(src), target, errdefs.ErrInvalidArgument)
		}
		os.Remove(target)
		if err := copyFile(src, target); err != nil {
			return err
		}
	default:
		return nil // devices, sockets and pipes are not copied
	}
	if err := os.Lchown(target, c.own.uid, c.own.gid); err != nil && os.Geteuid() == 0 {
		return err
	}
	if err := os.Chmod(target, mode); err != nil {
		return err
	}
	return os.Chtimes(target, fi.ModTime(), fi.ModTime())
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	return errors.Join(err, out.Close())
}

// extract unpacks src into the directory dest when it is a tar archive,
// plain or compressed with gzip or bzip2, as ADD does; it reports false
// for any other file, which ADD then copies as it is.
func (c *copier) extract(src, dest string) (bool, error) {
	f, err := os.Open(src)
	if err != nil {
		return false, err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	magic, _ := br.Peek(3)
	var r io.Reader = br
	switch {
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return false, nil
		}
		defer zr.Close()
		r = zr
	case bytes.Equal(magic, []byte("BZh")):
		r = bzip2.NewReader(br)
	}
	tr := tar.NewReader(r)
	hdr, err := tr.Next()
	if err != nil {
		return false, nil // not a tar: copied as a file
	}
	if err := c.mkdirs(dest); err != nil {
		return true, err
	}
	for ; err == nil; hdr, err = tr.Next() {
		if err := c.ctx.Err(); err != nil {
			return true, err
		}
		name := strings.TrimPrefix(path.Clean("/"+hdr.Name), "/")
		if name == "" {
			continue
		}
		target, err := securejoin.SecureJoin(c.rootfs, path.Join(dest, name))
		if err != nil {
			return true, err
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return true, err
		}
		mode := os.FileMode(hdr.Mode).Perm()
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, mode); err != nil {
				return true, err
			}
		case tar.TypeReg:
			os.RemoveAll(target)
			out, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
			if err != nil {
				return true, err
			}
			_, err = io.Copy(out, tr)
			if err = errors.Join(err, out.Close()); err != nil {
				return true, err
			}
		case tar.TypeSymlink:
			os.RemoveAll(target)
			if err := os.Symlink(hdr.Linkname, target); err != nil {
				return true, err
			}
		case tar.TypeLink:
			old, err := securejoin.SecureJoin(c.rootfs, path.Join(dest, strings.TrimPrefix(path.Clean("/"+hdr.Linkname), "/")))
			if err != nil {
				return true, err
			}
			os.RemoveAll(target)
			if err := os.Link(old, target); err != nil {
				return true, err
			}
			continue
		default:
			continue
		}
		uid, gid := hdr.Uid, hdr.Gid
		if c.own != (owner{}) {
			uid, gid = c.own.uid, c.own.gid
		}
		if err := os.Lchown(target, uid, gid); err != nil && os.Geteuid() == 0 {
			return true, err
		}
		if hdr.Typeflag != tar.TypeSymlink {
			if err := os.Chmod(target, mode); err != nil {
				return true, err
			}
			os.Chtimes(target, hdr.ModTime, hdr.ModTime)
		}
	}
	if err != io.EOF {
		return true, fmt.Errorf("read tar: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	return true, nil
}
