package overlay_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/stack-dev/stack/image"
	"github.com/stack-dev/stack/image/imagetest"
	"github.com/stack-dev/stack/image/overlay"
	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/internal/testutil"
)

// TestMain fails the package when a test leaves an overlay mount behind
// under the suite's own temporary directory.
func TestMain(m *testing.M) {
	suiteTmp, err := testutil.SuiteTempDir("stack-overlay-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if leaks := testutil.MountsUnder(suiteTmp, "overlay"); len(leaks) > 0 {
		fmt.Fprintf(os.Stderr, "overlay mounts leaked: %v\n", leaks)
		code = 1
	} else if err := os.RemoveAll(suiteTmp); err != nil && code == 0 {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}

// busyboxImage imports an image of two layers: the busybox rootfs, and a
// layer that deletes /etc/group (whiteout), makes /var/www opaque with a
// new file in it, and adds /etc/motd.
func busyboxImage(t *testing.T) (image.Store, image.Rootfs) {
	t.Helper()
	rootfs := testutil.BusyboxRootfs(t)
	var base bytes.Buffer
	if err := image.WriteLayerTar(context.Background(), &base, rootfs, image.LayerTarOptions{}); err != nil {
		t.Fatal(err)
	}
	top := imagetest.LayerTar(t,
		imagetest.Entry{Name: "etc/", Type: tar.TypeDir},
		imagetest.Entry{Name: "etc/.wh.group"},
		imagetest.Entry{Name: "etc/motd", Body: "welcome\n"},
		imagetest.Entry{Name: "var/www/", Type: tar.TypeDir},
		imagetest.Entry{Name: "var/www/.wh..wh..opq"},
		imagetest.Entry{Name: "var/www/new.html", Body: "new\n"},
	)
	img := imagetest.Image(t, false, v1.Config{Cmd: []string{"/bin/sh"}},
		imagetest.Step{Layer: imagetest.Layer(t, base.Bytes()), CreatedBy: "ADD busybox"},
		imagetest.Step{Layer: imagetest.Layer(t, top), CreatedBy: "RUN changes"},
	)
	s, err := image.NewStore(filepath.Join(t.TempDir(), "image"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.Import(ctx, bytes.NewReader(imagetest.DockerSave(t, map[string]v1.Image{"busybox:test": img})), image.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	r, err := s.Rootfs(ctx, "busybox:test")
	if err != nil {
		t.Fatal(err)
	}
	return s, r
}

func newDriver(t *testing.T, name string) overlay.Driver {
	t.Helper()
	d, err := overlay.New(overlay.Config{Root: filepath.Join(t.TempDir(), "overlay"), Driver: name})
	if err != nil {
		t.Fatal(err)
	}
	if name != "" && d.Name() != name {
		t.Fatalf("driver %s, want %s", d.Name(), name)
	}
	return d
}

func mount(t *testing.T, d overlay.Driver, layers []string) (dir, rootfs string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "c")
	rootfs, err := d.Mount(context.Background(), dir, layers)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Remove(dir); err != nil {
			t.Error(err)
		}
	})
	return dir, rootfs
}

// run runs busybox inside rootfs (chroot) and returns its output.
func run(t *testing.T, rootfs string, args ...string) string {
	t.Helper()
	cmd := exec.Command("/bin/busybox", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: rootfs}
	cmd.Dir = "/"
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("busybox %v in %s: %v\n%s", args, rootfs, err, out)
	}
	return string(out)
}

func checkView(t *testing.T, rootfs string) {
	t.Helper()
	if got := run(t, rootfs, "cat", "/etc/motd", "/var/www/new.html"); got != "welcome\nnew\n" {
		t.Fatalf("upper layer files: %q", got)
	}
	if _, err := os.Lstat(filepath.Join(rootfs, "etc/group")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("whiteout does not hide /etc/group: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(rootfs, "var/www/index.html")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("opaque dir does not hide /var/www/index.html: %v", err)
	}
	if !strings.Contains(run(t, rootfs, "cat", "/etc/passwd"), "app:x:1000") {
		t.Fatal("lower layer /etc/passwd missing")
	}
}

func TestRootOverlayMountImage(t *testing.T) {
	testutil.RequiresRoot(t)
	_, r := busyboxImage(t)
	d := newDriver(t, "")
	if d.Name() != overlay.NameOverlay {
		t.Fatalf("probe chose %s on a filesystem that supports overlay", d.Name())
	}
	_, rootfs := mount(t, d, r.Layers)
	checkView(t, rootfs)
}

func TestRootOverlayCopyOnWrite(t *testing.T) {
	testutil.RequiresRoot(t)
	_, r := busyboxImage(t)
	d := newDriver(t, overlay.NameOverlay)
	dir1, c1 := mount(t, d, r.Layers)
	dir2, c2 := mount(t, d, r.Layers)

	run(t, c1, "sh", "-c", "echo changed > /etc/passwd && echo x > /new && rm /bin/ls && rm -r /home")
	if got := run(t, c2, "cat", "/etc/passwd"); strings.Contains(got, "changed") {
		t.Fatal("a write in one container shows in another")
	}
	b, err := os.ReadFile(filepath.Join(r.Layers[0], "etc", "passwd"))
	if err != nil || strings.Contains(string(b), "changed") {
		t.Fatalf("a write reached the shared layer: %q %v", b, err)
	}
	if _, err := os.Lstat(filepath.Join(r.Layers[0], "bin", "ls")); err != nil {
		t.Fatalf("a delete reached the shared layer: %v", err)
	}
	// The second container reads everything but owns nothing.
	run(t, c2, "sh", "-c", "cat /bin/busybox | wc -c && ls -R / | wc -l") // no /dev in a bare chroot: do not create /dev/null
	u2, err := d.Usage(dir2)
	if err != nil {
		t.Fatal(err)
	}
	bb, _ := os.Stat(filepath.Join(r.Layers[0], "bin", "busybox"))
	if u2.DiskUsage > 64<<10 || u2.Size != 0 {
		t.Fatalf("an unchanged container's upper dir uses %+v (busybox alone is %d bytes)", u2, bb.Size())
	}
	u1, err := d.Usage(dir1)
	if err != nil {
		t.Fatal(err)
	}
	if u1.Size < int64(len("changed\nx\n")) || u1.Size > 1<<20 {
		t.Fatalf("changed container usage %+v", u1)
	}

	// The diff has the changes, deletions as .wh. entries.
	var diff bytes.Buffer
	if err := d.Diff(context.Background(), dir1, &diff); err != nil {
		t.Fatal(err)
	}
	names := tarNames(t, &diff)
	for _, want := range []string{"etc/passwd", "new", "bin/.wh.ls", ".wh.home"} {
		if !slices.Contains(names, want) {
			t.Errorf("diff lacks %s: %v", want, names)
		}
	}
}

func tarNames(t *testing.T, r io.Reader) []string {
	t.Helper()
	var names []string
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, strings.TrimSuffix(h.Name, "/"))
	}
}

func TestRootOverlayManyLayers(t *testing.T) {
	testutil.RequiresRoot(t)
	const n = 128
	base := t.TempDir()
	var layers []string
	for i := range n {
		l := filepath.Join(base, "sha256", fmt.Sprintf("%064x", i), "diff")
		if err := os.MkdirAll(l, 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(l, fmt.Sprintf("layer-%03d", i)), []byte(fmt.Sprint(i)), 0o644)
		os.WriteFile(filepath.Join(l, "top"), []byte(fmt.Sprint(i)), 0o644)
		layers = append(layers, l)
	}
	d := newDriver(t, overlay.NameOverlay)
	_, rootfs := mount(t, d, layers)
	entries, err := os.ReadDir(rootfs)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != n+1 {
		t.Fatalf("%d entries in a %d-layer mount", len(entries), n)
	}
	if b, _ := os.ReadFile(filepath.Join(rootfs, "top")); string(b) != fmt.Sprint(n-1) {
		t.Fatalf("top-most layer does not win: %q", b)
	}
	// Far more layers than the kernel's page of options allows fails cleanly.
	many := slices.Repeat(layers, 3)
	_, err = d.Mount(context.Background(), filepath.Join(t.TempDir(), "c"), many)
	if !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("384 layers: got %v, want invalid argument", err)
	}
}

func TestRootCopyDriver(t *testing.T) {
	testutil.RequiresRoot(t)
	_, r := busyboxImage(t)
	d := newDriver(t, overlay.NameCopy)
	dir, rootfs := mount(t, d, r.Layers)
	checkView(t, rootfs)
	run(t, rootfs, "sh", "-c", "echo changed > /etc/passwd")
	if b, _ := os.ReadFile(filepath.Join(r.Layers[0], "etc", "passwd")); strings.Contains(string(b), "changed") {
		t.Fatal("a write reached the shared layer")
	}
	u, err := d.Usage(dir)
	if err != nil || u.Size < 1<<19 {
		t.Fatalf("copy usage %+v %v", u, err)
	}
	// Mounting again keeps the container's state.
	if _, err := d.Mount(context.Background(), dir, r.Layers); err != nil {
		t.Fatal(err)
	}
	if got := run(t, rootfs, "cat", "/etc/passwd"); got != "changed\n" {
		t.Fatalf("remount lost the change: %q", got)
	}
}

func TestRootOverlayUnmountCleansUp(t *testing.T) {
	testutil.RequiresRoot(t)
	_, r := busyboxImage(t)
	d := newDriver(t, overlay.NameOverlay)
	dir := filepath.Join(t.TempDir(), "c")
	rootfs, err := d.Mount(context.Background(), dir, r.Layers)
	if err != nil {
		t.Fatal(err)
	}
	// Mount is idempotent.
	if _, err := d.Mount(context.Background(), dir, r.Layers); err != nil {
		t.Fatal(err)
	}
	run(t, rootfs, "sh", "-c", "echo kept > /kept")
	if err := d.Unmount(dir); err != nil {
		t.Fatal(err)
	}
	if m := testutil.MountsUnder(dir, "overlay"); len(m) != 0 {
		t.Fatalf("still mounted: %v", m)
	}
	if err := d.Unmount(dir); err != nil {
		t.Fatalf("second unmount: %v", err)
	}
	if _, err := d.Mount(context.Background(), dir, r.Layers); err != nil {
		t.Fatal(err)
	}
	if got := run(t, rootfs, "cat", "/kept"); got != "kept\n" {
		t.Fatalf("remount lost the upper dir: %q", got)
	}
	if err := d.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if m := testutil.MountsUnder(dir, "overlay"); len(m) != 0 {
		t.Fatalf("still mounted after Remove: %v", m)
	}
	if _, err := os.Lstat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("container dir left: %v", err)
	}
}
