package daemon

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/image/imagetest"
	"github.com/stack-dev/stack/internal/testutil"
	"github.com/stack-dev/stack/runtime"
	"github.com/stack-dev/stack/spec"
)

func TestMain(m *testing.M) {
	Reexec()
	os.Exit(m.Run())
}

// newTestDaemon opens a daemon on a fresh state root with a cgroup parent
// of the test's own.
func newTestDaemon(t *testing.T) *Daemon {
	t.Helper()
	root := t.TempDir()
	parent := "stack-test/" + strings.NewReplacer("/", "-").Replace(t.Name())
	d, err := New(Config{StateRoot: root, CgroupParent: parent, NetworkTable: testTable(t), UserNS: testUserNS(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.Close()
		assertNoMountsUnder(t, root)
		removeCgroupParent(t, parent)
	})
	return d
}

// testUserNS gives the test's daemon a pool of 16 container ranges of its
// own, so that daemons of tests running at once (another package's, too)
// never share one, and no test touches /etc/subuid.
func testUserNS(t *testing.T) UserNSConfig {
	sum := sha256.Sum256([]byte("userns " + t.Name()))
	n := uint32(sum[0])<<8 | uint32(sum[1])
	return UserNSConfig{Mode: UserNSPrivate, Range: fmt.Sprintf("%d:%d", 2_000_000_000+(n%1000)*16*usernsSize, 16*usernsSize)}
}

// testTable names an nftables table of the test's own.
func testTable(t *testing.T) string {
	sum := sha256.Sum256([]byte(t.Name()))
	return "stacktest_" + hex.EncodeToString(sum[:4])
}

// run creates, starts and waits for a container of svc, returning its
// record, state and output. The caller removes it.
func run(t *testing.T, d *Daemon, id string, svc *spec.Service) (*record, runtime.State, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := &spec.Project{Name: "test", Services: map[string]*spec.Service{svc.Name: svc}}
	r := &record{ID: id, Name: id, Project: p.Name, Service: svc.Name, Image: svc.Image}
	if err := d.createContainer(ctx, p, r, svc, nil); err != nil {
		t.Fatalf("create %s: %v", id, err)
	}
	_, rt, _ := d.engines()
	if err := rt.Start(ctx, id); err != nil {
		t.Fatalf("start %s: %v", id, err)
	}
	st, err := rt.Wait(ctx, id)
	if err != nil {
		t.Fatalf("wait %s: %v", id, err)
	}
	f, err := os.Open(r.Log.Path)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	runtime.DecodeLogs(f, func(e runtime.LogEntry) error { out.WriteString(e.Log); return nil })
	f.Close()
	return r, st, out.String()
}

// TestRootCopyOnWrite: a file changed in one container is unchanged in the
// image and in a second container of the same image, and the second
// container holds no copy of the image's files.
func TestRootCopyOnWrite(t *testing.T) {
	testutil.RequiresRoot(t)
	d := newTestDaemon(t)
	ctx := context.Background()
	if _, err := d.ImportRootfs(ctx, api.RootfsImport{Source: testutil.BusyboxRootfs(t), Ref: "busybox:cow"}); err != nil {
		t.Fatal(err)
	}
	svc := &spec.Service{Name: "a", Image: "busybox:cow", Command: spec.Command{"sh", "-c", "echo changed > /etc/group && cat /etc/group"}}
	ra, st, out := run(t, d, "cow-a", svc)
	if st.ExitCode != 0 || strings.TrimSpace(out) != "changed" {
		t.Fatalf("writer: exit %d, output %q", st.ExitCode, out)
	}
	svc2 := &spec.Service{Name: "b", Image: "busybox:cow", Command: spec.Command{"cat", "/etc/group"}}
	rb, st, out := run(t, d, "cow-b", svc2)
	if st.ExitCode != 0 || !strings.Contains(out, "root:x:0:") || strings.Contains(out, "changed") {
		t.Fatalf("reader sees the other container's write: exit %d, output %q", st.ExitCode, out)
	}
	img, err := d.images.Rootfs(ctx, "busybox:cow")
	if err != nil {
		t.Fatal(err)
	}
	layer, err := os.ReadFile(filepath.Join(img.Layers[0], "etc/group"))
	if err != nil || bytes.Contains(layer, []byte("changed")) {
		t.Fatalf("image layer changed: %q, %v", layer, err)
	}
	storage, _, _ := d.engines()
	usage, err := storage.Usage(filepath.Join(d.cfg.StateRoot, rootfsDir, "cow-b"))
	if err != nil {
		t.Fatal(err)
	}
	if usage.Size > 64<<10 {
		t.Errorf("second container's own layer holds %d bytes: the image's files were copied", usage.Size)
	}
	for _, r := range []*record{ra, rb} {
		if err := d.removeContainer(ctx, r); err != nil {
			t.Error(err)
		}
	}
	if _, err := os.Stat(filepath.Join(d.cfg.StateRoot, rootfsDir, "cow-a")); !os.IsNotExist(err) {
		t.Errorf("container storage left after removal: %v", err)
	}
}

// TestRootImportedArchivesRun imports docker-save and OCI archives built
// from a busybox binary in two layers, runs them, and lists their history.
func TestRootImportedArchivesRun(t *testing.T) {
	testutil.RequiresRoot(t)
	d := newTestDaemon(t)
	ctx := context.Background()
	bb, err := os.ReadFile(testutil.BusyboxPath(t))
	if err != nil {
		t.Fatal(err)
	}
	bin := imagetest.Layer(t, imagetest.LayerTar(t,
		imagetest.Entry{Name: "bin/", Type: '5'},
		imagetest.Entry{Name: "bin/busybox", Body: string(bb), Mode: 0o755}))
	etc := imagetest.Layer(t, imagetest.LayerTar(t,
		imagetest.Entry{Name: "etc/", Type: '5'},
		imagetest.Entry{Name: "etc/passwd", Body: "root:x:0:0:root:/root:/bin/sh\n"},
		imagetest.Entry{Name: "etc/group", Body: "root:x:0:\n"},
		imagetest.Entry{Name: "etc/greeting", Body: "hello from a layer\n"}))
	cfg := v1.Config{Entrypoint: []string{"/bin/busybox"}, Cmd: []string{"cat", "/etc/greeting"}}
	for _, oci := range []bool{false, true} {
		img := imagetest.Image(t, oci, cfg,
			imagetest.Step{Layer: bin, CreatedBy: "COPY busybox /bin/"},
			imagetest.Step{CreatedBy: "ENV A=1"},
			imagetest.Step{Layer: etc, CreatedBy: "COPY etc /etc"})
		name := "example.test/archive:docker"
		archive := imagetest.DockerSave(t, map[string]v1.Image{name: img})
		if oci {
			name = "example.test/archive:oci"
			archive = imagetest.OCIArchive(t, []string{name}, []v1.Image{img})
		}
		if _, err := d.ImportImage(ctx, bytes.NewReader(archive), ""); err != nil {
			t.Fatalf("import %s: %v", name, err)
		}
		id := "archive-" + map[bool]string{true: "oci", false: "docker"}[oci]
		r, st, out := run(t, d, id, &spec.Service{Name: "s", Image: name})
		if st.ExitCode != 0 || out != "hello from a layer\n" {
			t.Errorf("%s: exit %d, output %q", name, st.ExitCode, out)
		}
		if err := d.removeContainer(ctx, r); err != nil {
			t.Error(err)
		}
		h, err := d.ImageHistory(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		var by []string
		for _, e := range h {
			by = append(by, e.CreatedBy)
		}
		if strings.Join(by, "|") != "COPY etc /etc|ENV A=1|COPY busybox /bin/" || h[0].Size == 0 || !h[1].EmptyLayer {
			t.Errorf("%s history: %+v", name, h)
		}
	}
}

func assertNoMountsUnder(t *testing.T, dir string) {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], dir) {
			t.Errorf("mount left behind: %s", f[4])
		}
	}
}

// removeCgroupParent removes the test's (by now empty) cgroup parent from
// every hierarchy, failing the test if a container's cgroup is still in it.
func removeCgroupParent(t *testing.T, parent string) {
	t.Helper()
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*/" + parent)
	if d := "/sys/fs/cgroup/" + parent; fileExists(d) {
		dirs = append(dirs, d)
	}
	for _, dir := range dirs {
		if err := os.Remove(dir); err != nil {
			t.Errorf("cgroup left behind: %v", err)
		}
		os.Remove(filepath.Dir(dir)) // stack-test, once the last test is done
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
