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
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TestRootUpPullsMissingImage: a service whose image is only in a
// registry (an in-process one on loopback) is pulled by up, which says so,
// and runs; an image whose config has no history has no history rows.
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
	// The same image with a config without history, as tools other than
	// docker build write it: history shows no rows, as docker's.
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.History = nil
	bare, err := mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	bareRef, err := name.ParseReference(host + "/tools/bare:1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(bareRef, bare); err != nil {
		t.Fatal(err)
	}
	e.mustRun("image", "pull", host+"/tools/bare:1")
	if rows := strings.Split(strings.TrimSpace(e.mustRun("image", "history", host+"/tools/bare:1")), "\n"); len(rows) != 1 {
		t.Errorf("history of an image whose config has none: want the header alone, got\n%s", strings.Join(rows, "\n"))
	}
	if rows := strings.Split(strings.TrimSpace(e.mustRun("image", "history", "busybox")), "\n"); len(rows) < 2 {
		t.Errorf("history of busybox, whose config has some: %q", rows)
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

// TestRootPullPushFlags: pull and push stop at the first image they
// cannot move, and with --ignore-pull-failures / --ignore-push-failures
// move the others and exit 0, as compose's; --quiet prints no progress,
// push --include-deps takes the dependencies' images too, and build
// --push pushes what it built.
func TestRootPullPushFlags(t *testing.T) {
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
	// Nothing listens on port 1: its images can be neither pulled nor pushed.
	const nowhere = "127.0.0.1:1/none/nope:1"
	e.writeStack("services:\n  good:\n    image: " + host + "/tools/bb:1\n  gone:\n    image: " + nowhere + "\n")

	if code, _, _ := e.run("pull"); code == 0 {
		t.Error("pull of an image nowhere exited 0")
	}
	code, out, errOut := e.run("pull", "--quiet", "--ignore-pull-failures")
	if code != 0 {
		t.Fatalf("pull --ignore-pull-failures: exit %d: %s", code, errOut)
	}
	if strings.Contains(out+errOut, "Pulled") || !strings.Contains(errOut, nowhere) {
		t.Errorf("pull --quiet --ignore-pull-failures printed progress or no word of %s:\n%s%s", nowhere, out, errOut)
	}
	if ls := e.mustRun("image", "ls"); !strings.Contains(ls, host+"/tools/bb") {
		t.Errorf("pull --ignore-pull-failures did not pull the good image:\n%s", ls)
	}

	e.mustRun("image", "tag", "busybox", host+"/team/out:1")
	e.mustRun("image", "tag", "busybox", nowhere)
	e.writeStack("services:\n  out:\n    image: " + host + "/team/out:1\n    depends_on: [gone]\n  gone:\n    image: " + nowhere + "\n")
	if code, _, _ := e.run("push"); code == 0 {
		t.Error("push to a registry nowhere exited 0")
	}
	code, out, errOut = e.run("push", "--quiet", "--ignore-push-failures", "--include-deps", "out")
	if code != 0 {
		t.Fatalf("push --ignore-push-failures: exit %d: %s", code, errOut)
	}
	if strings.Contains(out+errOut, "Pushed") || !strings.Contains(errOut, nowhere) {
		t.Errorf("push --quiet --ignore-push-failures printed progress or no word of %s:\n%s%s", nowhere, out, errOut)
	}
	pushed, err := name.ParseReference(host + "/team/out:1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := remote.Head(pushed); err != nil {
		t.Errorf("push --ignore-push-failures did not push the good image: %v", err)
	}

	// build --push pushes what it built.
	e.writeFile("app/Dockerfile", "FROM busybox\nRUN echo built > /built\n", 0o644)
	e.writeStack("services:\n  built:\n    build: ./app\n    image: " + host + "/team/built:1\n")
	e.mustRun("build", "--push")
	built, err := name.ParseReference(host + "/team/built:1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := remote.Head(built); err != nil {
		t.Errorf("build --push: %v", err)
	}
}
