package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stack-dev/stack/spec"
)

// TestComposeCommandsParse: every command and flag of the Compose
// contract parses (a shorthand taken by a global flag panics otherwise).
func TestComposeCommandsParse(t *testing.T) {
	for _, args := range [][]string{
		{"rm", "-f", "-s", "-v", "--help"}, {"wait", "--down-project", "--help"}, {"login", "-u", "me", "--password-stdin", "--help"},
		{"logout", "--help"}, {"image", "tag", "--help"}, {"run", "--use-aliases", "--help"}, {"build", "--pull", "--help"},
		{"up", "-V", "--always-recreate-deps", "--pull", "never", "--no-build", "--abort-on-container-exit", "--exit-code-from", "x", "--attach", "a", "--no-attach", "b", "--help"},
		{"up", "--abort-on-container-failure", "--attach-dependencies", "--help"}, {"run", "--pull", "always", "--help"},
		{"down", "--remove-orphans", "web", "--help"},
	} {
		var out, errOut bytes.Buffer
		if code := run(args, strings.NewReader(""), &out, &errOut); code != 0 {
			t.Errorf("%v: exit %d: %s", args, code, errOut.String())
		}
	}
}

// TestDockerConfigCredentials: login's file is the Docker config's
// format (auths, base64 user:password), keeps the keys it does not know,
// and logout removes only the one entry.
func TestDockerConfigCredentials(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	os.WriteFile(path, []byte(`{"proxies":{"default":{"httpProxy":"http://p:3128"}},"auths":{"other:5000":{"auth":"eDp5"}}}`), 0o600)
	plain, err := storeCredentials(path, registryKey("localhost:5000"), "dev", "pw")
	if err != nil || !plain {
		t.Fatalf("store: %v, plain %v", err, plain)
	}
	cfg, _ := os.ReadFile(path)
	for _, want := range []string{`"localhost:5000"`, `"ZGV2OnB3"`, `"httpProxy"`, `"other:5000"`} {
		if !strings.Contains(string(cfg), want) {
			t.Errorf("no %s in %s", want, cfg)
		}
	}
	if found, err := eraseCredentials(path, "localhost:5000"); !found || err != nil {
		t.Fatalf("erase: %v %v", found, err)
	}
	cfg, _ = os.ReadFile(path)
	if strings.Contains(string(cfg), "localhost:5000") || !strings.Contains(string(cfg), "other:5000") {
		t.Errorf("after logout: %s", cfg)
	}
	if registryKey("") != dockerHubServer || registryKey("docker.io") != dockerHubServer || registryKey("https://r.example:5000/") != "r.example:5000" {
		t.Error("registry keys")
	}
}

// FuzzDockerConfig: login and logout read a Docker config someone else
// wrote; whatever it holds, they fail cleanly or keep it a valid file.
func FuzzDockerConfig(f *testing.F) {
	f.Add([]byte(`{"auths":{"r:5000":{"auth":"eDp5"}},"credHelpers":{}}`), "r:5000")
	f.Add([]byte(`{"auths":[]}`), "https://index.docker.io/v1/")
	f.Add([]byte(``), "")
	f.Fuzz(func(t *testing.T, data []byte, server string) {
		path := filepath.Join(t.TempDir(), "config.json")
		os.WriteFile(path, data, 0o600)
		key := registryKey(server)
		if _, err := readDockerConfig(path); err != nil {
			return
		}
		cfg, _ := readDockerConfig(path)
		if cfg.helper(key) != "" {
			return // would run a program
		}
		if _, err := storeCredentials(path, key, "u", "p"); err != nil {
			return
		}
		if _, err := readDockerConfig(path); err != nil {
			t.Fatalf("login wrote a config it cannot read: %v", err)
		}
		if _, err := eraseCredentials(path, key); err != nil {
			t.Fatalf("logout: %v", err)
		}
	})
}

// TestForegroundOptions: what a foreground up shows and when it ends, as
// compose's up decides it (cmd/compose/up.go).
func TestForegroundOptions(t *testing.T) {
	p := &spec.Project{Name: "p", Services: map[string]*spec.Service{
		"db":   {Name: "db", Image: "busybox"},
		"api":  {Name: "api", Image: "busybox", DependsOn: map[string]spec.DependsOn{"db": {Condition: spec.ConditionStarted, Required: true}}},
		"web":  {Name: "web", Image: "busybox", DependsOn: map[string]spec.DependsOn{"api": {Condition: spec.ConditionStarted, Required: true}}},
		"log":  {Name: "log", Image: "busybox"},
		"mute": {Name: "mute", Image: "busybox", Attach: new(false)},
	}}
	for _, tc := range []struct {
		name     string
		o        foregroundOptions
		services []string
		want     string
	}{
		{"all but attach: false", foregroundOptions{}, nil, "api db log web"},
		{"attach: false named", foregroundOptions{}, []string{"mute", "web"}, "web"},
		{"--attach wins over attach: false", foregroundOptions{attach: []string{"mute"}}, nil, "mute"},
		{"the named ones", foregroundOptions{}, []string{"web"}, "web"},
		{"with their dependencies", foregroundOptions{attachDependencies: true}, []string{"web"}, "api db web"},
		{"--attach", foregroundOptions{attach: []string{"db"}}, []string{"web"}, "db"},
		{"--no-attach", foregroundOptions{noAttach: []string{"log", "db"}}, nil, "api web"},
		{"--attach-dependencies --no-attach", foregroundOptions{attachDependencies: true, noAttach: []string{"db"}}, []string{"web"}, "api web"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.o.attached(p, tc.services, nil)
			if err != nil || strings.Join(got, " ") != tc.want {
				t.Errorf("attached %q (%v), want %q", got, err, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		o         foregroundOptions
		code      int
		wantAbort bool
	}{
		{foregroundOptions{}, 1, false},
		{foregroundOptions{abortOnExit: true}, 0, true},
		{foregroundOptions{exitCodeFrom: "web"}, 0, true},
		{foregroundOptions{abortOnFailure: true}, 0, false},
		{foregroundOptions{abortOnFailure: true}, 3, true},
		{foregroundOptions{abortOnFailure: true, exitCodeFrom: "web"}, 0, false},
	} {
		if got := tc.o.aborts(tc.code); got != tc.wantAbort {
			t.Errorf("%+v: exit %d aborts %v, want %v", tc.o, tc.code, got, tc.wantAbort)
		}
	}
	for _, tc := range []struct {
		o            foregroundOptions
		detach, wait bool
		want         string
	}{
		{foregroundOptions{abortOnExit: true, abortOnFailure: true}, false, false, "--abort-on-container-failure cannot be combined with --abort-on-container-exit"},
		{foregroundOptions{attach: []string{"db"}, attachDependencies: true}, false, false, "cannot combine --attach and --attach-dependencies"},
		{foregroundOptions{abortOnFailure: true}, true, false, "--detach cannot be combined"},
		{foregroundOptions{attachDependencies: true}, true, true, "--wait cannot be combined"},
		{foregroundOptions{attach: []string{"nope"}}, false, false, "no such service: nope"},
	} {
		if err := tc.o.check(p, tc.detach, tc.wait); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.o, err, tc.want)
		}
	}
}

// TestLogName: lines and exits show a replica as compose does, without
// the project; other names whole.
func TestLogName(t *testing.T) {
	for _, tc := range []struct{ service, container, want string }{
		{"web", "demo-web-1", "web-1"},
		{"web", "demo-web-12", "web-12"},
		{"web", "demo-web-run-0123abcd", "demo-web-run-0123abcd"},
		{"web", "my-nginx", "my-nginx"},
		{"web", "demo-web-", "demo-web-"},
		{"api", "demo-web-1", "demo-web-1"},
	} {
		if got := logName("demo", tc.service, tc.container); got != tc.want {
			t.Errorf("logName(demo, %s, %s) = %q, want %q", tc.service, tc.container, got, tc.want)
		}
	}
}
