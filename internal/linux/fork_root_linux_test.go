package linux

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stack-dev/stack/internal/testutil"
)

// TestRootUserNSChildEndsWithItsParent checks that the child NewUserNS
// clones ends by itself once its parent's ends of the pipe are closed, as
// they are when the parent is killed: it shares every descriptor of the
// parent (a daemon's socket and lock among them) and must not outlive it.
func TestRootUserNSChildEndsWithItsParent(t *testing.T) {
	testutil.RequiresRoot(t)
	pid, release, err := cloneIntoUserNS()
	if err != nil {
		t.Fatal(err)
	}
	release()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		var ws unix.WaitStatus
		if got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil); err != nil || got == pid {
			return
		}
		if time.Now().After(deadline) {
			unix.Kill(pid, unix.SIGKILL)
			waitChild(pid)
			t.Fatal("the child of a closed pipe still waits")
		}
	}
}

// TestRootNewUserNS checks that NewUserNS gives a namespace other than
// the caller's, and leaves no child behind.
func TestRootNewUserNS(t *testing.T) {
	testutil.RequiresRoot(t)
	f, err := NewUserNS([]IDMap{{0, 100000, 65536}}, []IDMap{{0, 100000, 65536}})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ns, own unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &ns); err != nil {
		t.Fatal(err)
	}
	if err := unix.Stat("/proc/self/ns/user", &own); err != nil {
		t.Fatal(err)
	}
	if ns.Ino == own.Ino {
		t.Error("NewUserNS returned the caller's own user namespace")
	}
	var ws unix.WaitStatus
	if pid, _ := unix.Wait4(-1, &ws, unix.WNOHANG, nil); pid > 0 {
		t.Errorf("a child %d was left to collect", pid)
	}
}
