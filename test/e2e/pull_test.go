package e2e

import (
	"io"
	"log"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TestRootUpPullsMissingImage: a service whose image is only in a
// registry (an in-process one on loopback) is pulled by up, which says so,
// and runs.
func TestRootUpPullsMissingImage(t *testing.T) {
	e := newEnv(t)
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer reg.Close()
	host := strings.TrimPrefix(reg.URL, "http://")

	archive := filepath.Join(e.dir, "busybox.tar")
	e.mustRun("image", "save", "busybox", "-o", archive)
	img, err := tarball.ImageFromPath(archive, nil)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(host + "/tools/bb:1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}

	e.writeStack("services:\n  app:\n    image: " + host + "/tools/bb:1\n    command: [sh, -c, 'echo pulled-and-running; sleep 3600']\n")
	out := e.mustProgress("up", "-d")
	if !strings.Contains(out, "Pulling") || !strings.Contains(out, "Pulled") {
		t.Errorf("up did not report the pull:\n%s", out)
	}
	if logs := waitLogs(e, "app", "pulled-and-running"); !strings.Contains(logs, "pulled-and-running") {
		t.Errorf("the pulled image did not run: %q", logs)
	}
	e.mustRun("down", "-t", "1", "--rmi", "all")
}
