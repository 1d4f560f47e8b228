package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestComposeCommandsParse: every command and flag of the Compose
// contract parses (a shorthand taken by a global flag panics otherwise).
func TestComposeCommandsParse(t *testing.T) {
	for _, args := range [][]string{
		{"rm", "-f", "-s", "-v", "--help"}, {"wait", "--down-project", "--help"}, {"login", "-u", "me", "--password-stdin", "--help"},
		{"logout", "--help"}, {"image", "tag", "--help"}, {"run", "--use-aliases", "--help"}, {"build", "--pull", "--help"},
		{"up", "-V", "--always-recreate-deps", "--pull", "never", "--no-build", "--abort-on-container-exit", "--exit-code-from", "x", "--attach", "a", "--no-attach", "b", "--help"},
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
