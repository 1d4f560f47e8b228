package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/internal/testutil"
	"github.com/stack-dev/stack/runtime"
	"github.com/stack-dev/stack/spec"
)

// TestRootUserNSOwners runs containers with the daemon's default, a user
// namespace each: the uid_map is not the identity; a file the container's
// root creates in a named volume and in a bind mount is the host's root's,
// as without a user namespace, and a bind-mounted file of the developer
// (uid 1000) is 1000's inside; a setuid-root binary the container writes
// to its own filesystem is setuid to an unprivileged host uid; two
// containers have disjoint ranges, and a removed container's range is the
// next one's.
func TestRootUserNSOwners(t *testing.T) {
	testutil.RequiresRoot(t)
	d := newTestDaemon(t)
	ctx := context.Background()
	if _, err := d.ImportRootfs(ctx, api.RootfsImport{Source: testutil.BusyboxRootfs(t), Ref: "busybox:userns"}); err != nil {
		t.Fatal(err)
	}
	bind := t.TempDir()
	os.Chmod(bind, 0o755)
	os.WriteFile(filepath.Join(bind, "mine"), []byte("dev"), 0o644)
	os.Chown(filepath.Join(bind, "mine"), 1000, 1000)
	p := &spec.Project{Name: "test", Volumes: map[string]*spec.Volume{"data": {Name: "test_data"}}}
	svc := &spec.Service{Name: "a", Image: "busybox:userns", Command: spec.Command{"sh", "-c", `
cat /proc/self/uid_map
echo "mine $(stat -c %u:%g /bind/mine)"
touch /vol/by-root /bind/by-root
cp /bin/busybox /suid && chmod 4755 /suid
`}, Volumes: []spec.ServiceVolume{
		{Type: spec.VolumeTypeVolume, Source: "data", Target: "/vol"},
		{Type: spec.VolumeTypeBind, Source: bind, Target: "/bind"},
	}}
	p.Services = map[string]*spec.Service{"a": svc}
	ra := &record{ID: "userns-a", Name: "userns-a", Project: p.Name, Service: "a", Image: svc.Image}
	if err := d.createContainer(ctx, p, ra, svc, nil); err != nil {
		t.Fatal(err)
	}
	defer d.removeContainer(ctx, ra)
	st, out := startAndWait(t, d, ra)
	if st != 0 {
		t.Fatalf("exit %d: %s", st, out)
	}
	if ra.UserNS == nil {
		t.Fatal("no user namespace range in the record")
	}
	if got := strings.Join(strings.Fields(out), " "); !strings.Contains(got, fmt.Sprintf("0 %d 65536", ra.UserNS.UID)) || !strings.Contains(got, "mine 1000:1000") {
		t.Errorf("output %q: want the uid_map 0 %d 65536 and mine owned by 1000:1000", out, ra.UserNS.UID)
	}
	for _, f := range []string{filepath.Join(d.volumeDir("test_data"), "_data", "by-root"), filepath.Join(bind, "by-root")} {
		if uid, gid, _ := testutil.Owner(t, f); uid != 0 || gid != 0 {
			t.Errorf("%s is %d:%d on the host, want 0:0 (as a container without a user namespace makes it)", f, uid, gid)
		}
	}
	uid, _, mode := testutil.Owner(t, filepath.Join(d.rootfsPath(ra.ID), "upper", "suid"))
	if mode&fs.ModeSetuid == 0 || uid == 0 || uid != ra.UserNS.UID {
		t.Errorf("the container's setuid binary is %v of uid %d on the host, want setuid to %d", mode, uid, ra.UserNS.UID)
	}

	// A second container: a range of its own.
	svcB := &spec.Service{Name: "b", Image: "busybox:userns", Command: spec.Command{"cat", "/proc/self/uid_map"}}
	p.Services["b"] = svcB
	rb := &record{ID: "userns-b", Name: "userns-b", Project: p.Name, Service: "b", Image: svcB.Image}
	if err := d.createContainer(ctx, p, rb, svcB, nil); err != nil {
		t.Fatal(err)
	}
	if rb.UserNS == nil || overlaps(uint64(ra.UserNS.UID), usernsSize, uint64(rb.UserNS.UID), usernsSize) || overlaps(uint64(ra.UserNS.GID), usernsSize, uint64(rb.UserNS.GID), usernsSize) {
		t.Errorf("ranges %+v and %+v are not disjoint", ra.UserNS, rb.UserNS)
	}
	if err := d.removeContainer(ctx, rb); err != nil {
		t.Fatal(err)
	}
	old := *ra.UserNS
	if err := d.removeContainer(ctx, ra); err != nil {
		t.Fatal(err)
	}
	rc := &record{ID: "userns-c", Name: "userns-c", Project: p.Name, Service: "b", Image: svcB.Image}
	if err := d.createContainer(ctx, p, rc, svcB, nil); err != nil {
		t.Fatal(err)
	}
	defer d.removeContainer(ctx, rc)
	if rc.UserNS == nil || *rc.UserNS != old {
		t.Errorf("after the removals the next container has %+v, want the freed %+v", rc.UserNS, old)
	}
}

// TestRootUserNSOptOut: userns_mode: host runs in the host's user
// namespace; privileged without it is refused before anything of the
// container exists, naming the fix.
func TestRootUserNSOptOut(t *testing.T) {
	testutil.RequiresRoot(t)
	d := newTestDaemon(t)
	ctx := context.Background()
	if _, err := d.ImportRootfs(ctx, api.RootfsImport{Source: testutil.BusyboxRootfs(t), Ref: "busybox:userns"}); err != nil {
		t.Fatal(err)
	}
	svc := &spec.Service{Name: "host", Image: "busybox:userns", UsernsMode: "host", Command: spec.Command{"cat", "/proc/self/uid_map"}}
	p := &spec.Project{Name: "test", Services: map[string]*spec.Service{svc.Name: svc}}
	r := &record{ID: "optout-host", Name: "optout-host", Project: p.Name, Service: svc.Name, Image: svc.Image}
	if err := d.createContainer(ctx, p, r, svc, nil); err != nil {
		t.Fatal(err)
	}
	code, out := startAndWait(t, d, r)
	if code != 0 || r.UserNS != nil || strings.Join(strings.Fields(out), " ") != "0 0 4294967295" {
		t.Errorf("userns_mode host: exit %d, range %+v, uid_map %q: want the host's", code, r.UserNS, out)
	}
	if err := d.removeContainer(ctx, r); err != nil {
		t.Error(err)
	}

	priv := &spec.Service{Name: "priv", Image: "busybox:userns", Privileged: true, Command: spec.Command{"true"}}
	p.Services = map[string]*spec.Service{"priv": priv}
	rp := &record{ID: "optout-priv", Name: "optout-priv", Project: p.Name, Service: priv.Name, Image: priv.Image}
	err := d.createContainer(ctx, p, rp, priv, nil)
	if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "userns_mode: host") {
		t.Fatalf("privileged without userns_mode: host: %v, want it refused naming the fix", err)
	}
	if rp.UserNS != nil || fileExists(d.rootfsPath(rp.ID)) {
		t.Errorf("a refused container left a range (%+v) or a rootfs", rp.UserNS)
	}
}

// TestRootUserNSRestart: a daemon opened again on the state root (after
// a crash) keeps the ranges its records hold: a container left half
// created by the crash is torn down and frees its range, the others keep
// theirs, and a new container gets none of theirs.
func TestRootUserNSRestart(t *testing.T) {
	testutil.RequiresRoot(t)
	root := t.TempDir()
	parent := "stack-test/" + strings.NewReplacer("/", "-").Replace(t.Name())
	cfg := Config{StateRoot: root, CgroupParent: parent, NetworkTable: testTable(t), UserNS: testUserNS(t)}
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := d.ImportRootfs(ctx, api.RootfsImport{Source: testutil.BusyboxRootfs(t), Ref: "busybox:userns"}); err != nil {
		t.Fatal(err)
	}
	svc := &spec.Service{Name: "a", Image: "busybox:userns", Command: spec.Command{"true"}}
	p := &spec.Project{Name: "test", Services: map[string]*spec.Service{"a": svc}}
	kept := &record{ID: "restart-kept", Name: "restart-kept", Project: p.Name, Service: "a", Image: svc.Image}
	if err := d.createContainer(ctx, p, kept, svc, nil); err != nil {
		t.Fatal(err)
	}
	if err := d.saveRecord(kept); err != nil {
		t.Fatal(err)
	}
	// A create the crash cut short: the record and its range only.
	half := &record{ID: "restart-half", Name: "restart-half", Project: p.Name, Service: "a", State: stateCreating}
	pool, err := d.usernsPool()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.store.allocateUserNS(half, pool); err != nil {
		t.Fatal(err)
	}
	d.Close()

	d2, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d2.Close()
		assertNoMountsUnder(t, root)
		removeCgroupParent(t, parent)
	})
	recs := map[string]*record{}
	for _, r := range d2.store.list(p.Name) {
		recs[r.Name] = r
	}
	if r := recs["restart-kept"]; r == nil || r.UserNS == nil || *r.UserNS != *kept.UserNS {
		t.Fatalf("after the restart the kept container's range is %+v, want %+v", r, kept.UserNS)
	}
	if err := d2.finishTeardowns(ctx, p.Name); err != nil {
		t.Fatal(err)
	}
	fresh := &record{ID: "restart-new", Name: "restart-new", Project: p.Name, Service: "a", Image: svc.Image}
	if err := d2.createContainer(ctx, p, fresh, svc, nil); err != nil {
		t.Fatal(err)
	}
	if fresh.UserNS == nil || *fresh.UserNS == *kept.UserNS || *fresh.UserNS != *half.UserNS {
		t.Errorf("new container's range %+v: want the half-created one's (%+v), freed, and not the kept one's (%+v)", fresh.UserNS, half.UserNS, kept.UserNS)
	}
	for _, r := range []*record{fresh, recs["restart-kept"]} {
		if err := d2.removeContainer(ctx, r); err != nil {
			t.Error(err)
		}
	}
}

// startAndWait starts r's container as the daemon does (its network
// plugged) and waits for it: exit code and output.
func startAndWait(t *testing.T, d *Daemon, r *record) (int, string) {
	t.Helper()
	ctx := context.Background()
	_, rt, _ := d.engines()
	if r.UserNS != nil {
		if err := d.plugNetwork(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := rt.Start(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	st, err := rt.Wait(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	return st.ExitCode, readContainerLog(t, d, r.ID)
}

func readContainerLog(t *testing.T, d *Daemon, id string) string {
	t.Helper()
	_, rt, _ := d.engines()
	logPath, _ := rt.(managerRuntime).LogPath(id)
	f, err := os.Open(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out strings.Builder
	runtime.DecodeLogs(f, func(e runtime.LogEntry) error { out.WriteString(e.Log); return nil })
	return out.String()
}
