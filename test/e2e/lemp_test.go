package e2e

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// bootstrapCache keeps the Debian root filesystem that `stack image
// bootstrap debian:bookworm` makes, so that later runs import it instead
// of running mmdebstrap again.
const bootstrapCache = "/var/cache/stack-test/debian-bookworm-amd64.tar"

// lempPort is where the test publishes the example's web service: not the
// example's 8080, which examples/hello uses too.
const lempPort = "18088"

var lempSeed = []string{"1: first seeded row", "2: second seeded row", "3: third seeded row"}

// TestRootLEMP runs examples/lemp from nothing: the debian:bookworm base
// is bootstrapped, up builds the three images, and the page lists the
// seeded rows through nginx -> php-fpm -> mariadb. A POSTed row survives
// down and up and goes with down -v; an edit of the (bind-mounted) PHP
// source shows on the next request; logs, exec and ps work on the
// services, which all run under the default seccomp profile. The example is copied into the test's directory, which is the
// project directory.
func TestRootLEMP(t *testing.T) {
	e := newEnv(t)
	if err := os.CopyFS(e.dir, os.DirFS("../../examples/lemp")); err != nil {
		t.Fatal(err)
	}
	e.vars = append(e.vars, "LEMP_HTTP_PORT="+lempPort)
	e.bootstrapDebian()
	page := "http://127.0.0.1:" + lempPort + "/"

	out := e.mustProgress("up", "-d")
	healthy := strings.Index(out, "Container "+e.project+"-db-1  Healthy")
	phpStart := strings.Index(out, "Container "+e.project+"-php-1  Started")
	if healthy < 0 || phpStart < 0 || healthy > phpStart {
		t.Errorf("want db healthy before php started; up said:\n%s", out)
	}
	body := waitPage(t, page, lempSeed...)
	if strings.Count(body, "<li>") != len(lempSeed) {
		t.Errorf("want only the seeded rows:\n%s", body)
	}
	ps := e.ps()
	for _, s := range []string{"db", "php", "web"} {
		if ps[s].State != "running" {
			t.Errorf("ps: %s is %q", s, ps[s].State)
		}
	}
	if ps["db"].Health != "healthy" {
		t.Errorf("ps: db health %q", ps["db"].Health)
	}
	if table := e.mustRun("ps"); !strings.Contains(table, "(healthy)") {
		t.Errorf("ps table does not show db's health:\n%s", table)
	}

	body = postRow(t, page, "added by e2e")
	if !strings.Contains(body, "4: added by e2e") {
		t.Errorf("POST: the new row is not on the page:\n%s", body)
	}

	logs := e.mustRun("logs", "db")
	for _, want := range []string{"entrypoint: running /docker-entrypoint-initdb.d/01-schema.sql", "entrypoint: initialised", "ready for connections"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs db lack %q:\n%s", want, logs)
		}
	}
	if code, out, errOut := e.run("exec", "-T", "db", "mariadb", "-N", "-e", "select 1"); strings.Contains(errOut, `unknown command "exec"`) {
		t.Log("stack exec is not implemented yet: skipping its check")
	} else if code != 0 || strings.TrimSpace(out) != "1" {
		t.Errorf("exec db mariadb: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	// nginx, php-fpm and mariadb run under Docker's seccomp profile.
	for _, s := range []string{"web", "php", "db"} {
		status := e.mustRun("exec", "-T", s, "cat", "/proc/1/status")
		var seccomp string
		for _, l := range strings.Split(status, "\n") {
			if v, ok := strings.CutPrefix(l, "Seccomp:"); ok {
				seccomp = strings.TrimSpace(v)
			}
		}
		if seccomp != "2" {
			t.Errorf("%s: Seccomp %q in /proc/1/status, want 2 (a filter)", s, seccomp)
		}
	}

	// The app directory is bind-mounted: an edit shows on the next request.
	index := filepath.Join(e.dir, "app", "index.php")
	src, err := os.ReadFile(index)
	if err != nil {
		t.Fatal(err)
	}
	edited := bytes.Replace(src, []byte("<h1>Items</h1>"), []byte("<h1>Edited items</h1>"), 1)
	if bytes.Equal(edited, src) {
		t.Fatal("index.php has no <h1>Items</h1> to edit")
	}
	if err := os.WriteFile(index, edited, 0o644); err != nil {
		t.Fatal(err)
	}
	if body := getPage(t, page); !strings.Contains(body, "<h1>Edited items</h1>") {
		t.Errorf("the edit did not show on the next request:\n%s", body)
	}

	// The named volume keeps the row across down and up ...
	e.mustRun("down", "-t", "1")
	if left := e.ps(); len(left) != 0 {
		t.Errorf("containers after down: %+v", left)
	}
	e.mustRun("up", "-d")
	waitPage(t, page, "4: added by e2e")

	// ... and down -v removes it: the next up starts from the seed.
	e.mustRun("down", "-v", "-t", "1")
	if _, err := os.Stat(filepath.Join(e.root, "volumes", e.project+"_db-data")); !os.IsNotExist(err) {
		t.Errorf("down -v left the volume: %v", err)
	}
	e.mustRun("up", "-d")
	body = waitPage(t, page, lempSeed...)
	if strings.Contains(body, "added by e2e") || strings.Count(body, "<li>") != len(lempSeed) {
		t.Errorf("after down -v: want only the seeded rows:\n%s", body)
	}

	e.mustRun("down", "-v", "-t", "1")
	if left := e.ps(); len(left) != 0 {
		t.Errorf("containers after down: %+v", left)
	}
}

// bootstrapDebian makes debian:bookworm in the test's engine, from the
// cached root filesystem when an earlier run left one.
func (e *env) bootstrapDebian() {
	e.t.Helper()
	dir := filepath.Join(e.root, "cache", "bootstrap")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		e.t.Fatal(err)
	}
	tarball := filepath.Join(dir, filepath.Base(bootstrapCache))
	cached := copyFile(bootstrapCache, tarball) == nil
	e.mustRun("image", "bootstrap", "debian:bookworm")
	if !cached {
		if err := copyFile(tarball, bootstrapCache); err != nil {
			e.t.Logf("cache the bootstrap tarball: %v", err)
		}
	}
}

// copyFile copies src to dst through a temporary file, so that dst is
// either absent or complete.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

// getPage fetches url once and fails unless it answers 200.
func getPage(t *testing.T, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, body)
	}
	return string(body)
}

// waitPage fetches url until it answers 200 with every one of want, for
// up to 60 seconds (nginx and php-fpm start after up returns), and
// returns the body.
func waitPage(t *testing.T, url string, want ...string) string {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	var last string
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		resp, err := c.Get(url)
		if err != nil {
			last = err.Error()
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		last = resp.Status + "\n" + string(body)
		if resp.StatusCode != http.StatusOK {
			continue
		}
		ok := true
		for _, w := range want {
			ok = ok && bytes.Contains(body, []byte(w))
		}
		if ok {
			return string(body)
		}
	}
	t.Fatalf("GET %s never showed %q; last answer: %s", url, want, last)
	return ""
}

// postRow submits the page's form and returns the page it redirects to.
func postRow(t *testing.T, page, name string) string {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.PostForm(page, url.Values{"name": {name}})
	if err != nil {
		t.Fatalf("POST %s: %v", page, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Request.Method != http.MethodGet {
		t.Fatalf("POST %s: %s after %s, want 200 after the redirect\n%s", page, resp.Status, resp.Request.Method, body)
	}
	return string(body)
}
