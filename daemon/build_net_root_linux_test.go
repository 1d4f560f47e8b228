package daemon

import (
	"net"
	"testing"
	"time"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/internal/testutil"
)

// TestRootBuildRunReachesMirror: RUN steps reach the outside through the
// build network's NAT and resolve names, as apt-get needs. Skips when the
// host itself cannot reach the Debian mirror.
func TestRootBuildRunReachesMirror(t *testing.T) {
	testutil.RequiresRoot(t)
	c, err := net.DialTimeout("tcp", "deb.debian.org:80", 5*time.Second)
	if err != nil {
		t.Skipf("the host cannot reach the Debian mirror: %v", err)
	}
	c.Close()
	d := newTestDaemon(t)
	importBusybox(t, d, "busybox:build")
	dir := buildContext(t, map[string]string{"Dockerfile": "FROM busybox:build\nRUN wget -q -O /release http://deb.debian.org/debian/dists/bookworm/Release && head -c 6 /release\n"})
	res, evs, err := doBuild(t, d, api.BuildRequest{Context: dir, Tags: []string{"netcheck"}})
	if err != nil {
		t.Fatalf("build step could not reach the mirror: %v; steps: %+v", err, evs)
	}
	if res.Steps != 1 {
		t.Fatalf("result: %+v", res)
	}
}
