package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestCompletion completes through cobra's hidden __complete command, as
// the bash, zsh and fish scripts of `stack completion` do.
func TestCompletion(t *testing.T) {
	// No engine to ask: replica numbers come from the stack file.
	t.Setenv("STACK_HOST", "unix://"+filepath.Join(t.TempDir(), "none.sock"))
	dir := writeStack(t, `services:
  web: {image: nginx, scale: 2}
  worker: {image: busybox, profiles: [jobs]}
  db: {image: mariadb, profiles: [data, jobs]}
`)
	for _, c := range []struct {
		name string
		args []string
		want []string
	}{
		{"logs services", []string{"logs", ""}, []string{"db", "web", "worker"}},
		{"services by prefix", []string{"up", "w"}, []string{"web", "worker"}},
		{"no repeats", []string{"stop", "web", ""}, []string{"db", "worker"}},
		{"exec takes one service", []string{"exec", "web", ""}, nil},
		{"profiles", []string{"--profile", ""}, []string{"data", "jobs"}},
		{"progress modes", []string{"--progress", ""}, []string{"auto", "tty", "plain", "json", "quiet"}},
		{"replica indexes", []string{"attach", "web", "--index", ""}, []string{"1", "2"}},
		{"logs --index", []string{"logs", "web", "--index", ""}, []string{"1", "2"}},
		{"ps --status", []string{"ps", "--status", ""}, []string{"paused", "restarting", "removing", "running", "dead", "created", "exited"}},
		{"cp names the container side", []string{"cp", "we"}, []string{"web:"}},
		{"config --hash", []string{"config", "--hash", ""}, []string{"*", "db", "web", "worker"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, dir, append([]string{"__complete"}, c.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			var got []string
			for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
				if l != "" && !strings.HasPrefix(l, ":") {
					got = append(got, strings.SplitN(l, "\t", 2)[0])
				}
			}
			if strings.Join(got, " ") != strings.Join(c.want, " ") {
				t.Errorf("__complete %q = %q, want %q", c.args, got, c.want)
			}
		})
	}
}

// Each shell's script is generated.
func TestCompletionScripts(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		code, out, errOut := runCLI(t, t.TempDir(), "completion", shell)
		if code != 0 || !strings.Contains(out, "__complete") {
			t.Errorf("completion %s: exit %d, %d bytes, %s", shell, code, len(out), errOut)
		}
	}
}
