package daemon

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestNamesRefusedAtTheDoor walks every route of the API: each name its
// path takes (a project, a volume, an image reference) is refused when it
// is a path, a glob or empty, with a 400 of class invalid_argument, before
// any handler acts on it. A route added later is walked too; one with a
// path value this test does not know fails it until the test learns it.
func TestNamesRefusedAtTheDoor(t *testing.T) {
	root := t.TempDir()
	d, err := New(Config{StateRoot: root})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	h, patterns := d.routes()
	bad := map[string][]string{
		// One path segment: escaped, as a client that quotes sends it.
		"{name}": {"..", ".", "", "%2E%2E", "a%2Fb", "..%2F..%2Fx", "%2A", "a%2A", strings.Repeat("a", 300)},
		// The rest of the path: a reference's own slashes are its.
		"{ref...}": {"..", ".", "a/../b", "a/./b", "../../x", "a//b", "a%2F..%2Fb", "%2E%2E/x", "%2A", "a/%2A", ""},
	}
	var walked []string
	for _, p := range patterns {
		method, path, _ := strings.Cut(p, " ")
		var param string
		for _, seg := range strings.Split(path, "/") {
			if strings.HasPrefix(seg, "{") {
				if _, ok := bad[seg]; !ok {
					t.Errorf("%s: path value %s: add it to this test", p, seg)
					continue
				}
				param = seg
			}
		}
		if param == "" {
			continue
		}
		walked = append(walked, p)
		for _, name := range bad[param] {
			target := strings.Replace(path, param, name, 1)
			status, class, served := serveOnce(t, h, method, target)
			if status != http.StatusBadRequest || class != "invalid_argument" {
				t.Errorf("%s %s: %d %s (served by %q), want 400 invalid_argument", method, target, status, class, served)
			}
		}
	}
	// The routes the door must cover, whatever else there is.
	for _, p := range []string{
		"POST /v1/projects/{name}/up", "POST /v1/projects/{name}/rm", "POST /v1/projects/{name}/wait",
		"POST /v1/projects/{name}/attach", "GET /v1/projects/{name}/archive", "PUT /v1/projects/{name}/archive",
		"DELETE /v1/volumes/{name}", "DELETE /v1/images/{ref...}", "GET /v1/images/inspect/{ref...}",
	} {
		if !slices.Contains(walked, p) {
			t.Errorf("route %s not walked (routes: %q)", p, patterns)
		}
	}
	// A query's project too.
	for _, name := range bad["{name}"] {
		if name == "" {
			continue // no project: every project's events
		}
		if status, class, _ := serveOnce(t, h, "GET", "/v1/events?project="+name); status != http.StatusBadRequest || class != "invalid_argument" {
			t.Errorf("GET /v1/events?project=%s: %d %s, want 400 invalid_argument", name, status, class)
		}
	}
	// Good names pass the door (the handlers answer, not it).
	for _, target := range []string{"/v1/projects/ok/containers", "/v1/images/inspect/library/busybox:1", "/v1/volumes"} {
		if status, _, _ := serveOnce(t, h, "GET", target); status == http.StatusBadRequest {
			t.Errorf("GET %s: refused", target)
		}
	}
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(root), "*x*")); len(m) > 0 {
		t.Errorf("created outside the state root: %q", m)
	}
}

// serveOnce sends one request to h and returns the status, the error's
// class and the pattern of the route that served it; a handler's panic
// (a name that got past the door into a half-made daemon) fails the test.
func serveOnce(t *testing.T, h http.Handler, method, target string) (status int, class, served string) {
	t.Helper()
	req := httptest.NewRequest(method, "http://stack"+target, strings.NewReader("{}"))
	rec := httptest.NewRecorder()
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Errorf("%s %s reached a handler, which panicked: %v", method, target, p)
			}
		}()
		h.ServeHTTP(rec, req)
	}()
	var body struct{ Class string }
	json.Unmarshal(rec.Body.Bytes(), &body)
	return rec.Code, body.Class, req.Pattern
}
