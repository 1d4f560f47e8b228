package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stack-dev/stack/internal/errdefs"
)

func TestCertPath(t *testing.T) {
	t.Setenv("HOME", "/home/someone")
	t.Setenv("STACK_CERT_PATH", "")
	if got := certPath(); got != "/home/someone/.stack" {
		t.Errorf("without STACK_CERT_PATH: %q, want /home/someone/.stack", got)
	}
	t.Setenv("STACK_CERT_PATH", "/etc/stack/certs")
	if got := certPath(); got != "/etc/stack/certs" {
		t.Errorf("with STACK_CERT_PATH: %q", got)
	}
}

func TestTLSOptionsResolve(t *testing.T) {
	full := t.TempDir()
	for _, name := range []string{"ca.pem", "cert.pem", "key.pem"} {
		if err := os.WriteFile(filepath.Join(full, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	caOnly := t.TempDir()
	if err := os.WriteFile(filepath.Join(caOnly, "ca.pem"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		flags tlsOptions
		dir   string
		want  tlsOptions
	}{
		{"defaults from the directory", tlsOptions{}, full,
			tlsOptions{filepath.Join(full, "ca.pem"), filepath.Join(full, "cert.pem"), filepath.Join(full, "key.pem")}},
		{"flags win", tlsOptions{caCert: "/x/ca", key: "/x/key"}, full,
			tlsOptions{"/x/ca", filepath.Join(full, "cert.pem"), "/x/key"}},
		{"only files that exist", tlsOptions{}, caOnly, tlsOptions{caCert: filepath.Join(caOnly, "ca.pem")}},
		{"empty directory", tlsOptions{}, t.TempDir(), tlsOptions{}},
		{"no directory", tlsOptions{cert: "/x/cert"}, "", tlsOptions{cert: "/x/cert"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.flags.resolve(tc.dir); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestHostFlag(t *testing.T) {
	for _, tc := range []struct {
		name      string
		args      []string
		wantHost  string
		wantHosts []string
	}{
		{"default", nil, "unix:///default.sock", []string{"unix:///default.sock"}},
		{"one replaces the default", []string{"-H", "tcp://a:1"}, "tcp://a:1", []string{"tcp://a:1"}},
		{"repeated", []string{"-H", "unix:///s", "--host", "tcp://a:1"}, "tcp://a:1", []string{"unix:///s", "tcp://a:1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("STACK_HOST", "unix:///default.sock")
			g := parseGlobals(t, tc.args...)
			if g.host != tc.wantHost || strings.Join(g.hosts, " ") != strings.Join(tc.wantHosts, " ") {
				t.Errorf("host %q hosts %q, want %q %q", g.host, g.hosts, tc.wantHost, tc.wantHosts)
			}
		})
	}
}

// parseGlobals parses args as the root command's flags and returns the
// options they set.
func parseGlobals(t *testing.T, args ...string) *globalOptions {
	t.Helper()
	f := newRootCommand(strings.NewReader(""), &strings.Builder{}, &strings.Builder{}).Flags()
	if err := f.Parse(args); err != nil {
		t.Fatal(err)
	}
	return f.Lookup("host").Value.(*hostFlag).g
}

func TestNewClientRefusesTCPWithoutCertificates(t *testing.T) {
	t.Setenv("STACK_CERT_PATH", t.TempDir())
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"nothing", []string{"-H", "tcp://127.0.0.1:1"}, "tcp needs TLS certificates"},
		{"cert without key", []string{"-H", "tcp://127.0.0.1:1", "--tlscert", "/x/cert.pem"}, "needs both --tlscert and --tlskey"},
		{"two hosts", []string{"-H", "tcp://127.0.0.1:1", "-H", "unix:///s"}, "talks to one daemon"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseGlobals(t, tc.args...).newClient()
			if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want invalid argument with %q", err, tc.want)
			}
		})
	}
}
