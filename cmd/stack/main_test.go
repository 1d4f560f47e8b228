package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMain lets the test binary stand in for the stack binary when the CLI
// re-executes itself: as the daemon it starts on demand, and as the
// runtime's shim and container init.
func TestMain(m *testing.M) {
	reexec()
	if len(os.Args) > 1 && os.Args[1] == "daemon" {
		os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func runCLI(t *testing.T, dir string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(append([]string{"--project-directory", dir}, args...), strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

func writeStack(t *testing.T, content string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "stack.yaml"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestConfigQuiet(t *testing.T) {
	dir := writeStack(t, "services:\n  web:\n    image: nginx\n")
	code, out, errOut := runCLI(t, dir, "config", "-q")
	if code != 0 || out != "" || errOut != "" {
		t.Fatalf("valid file: code %d, stdout %q, stderr %q; want 0 and silence", code, out, errOut)
	}

	dir = writeStack(t, "services:\n  web:\n    image: nginx\n    portz: [80]\n  db:\n    image: [x]\n")
	code, out, errOut = runCLI(t, dir, "config", "-q")
	if code != 2 {
		t.Errorf("invalid file: exit code %d, want 2", code)
	}
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	if len(lines) != 2 || out != "" {
		t.Fatalf("want two problem lines on stderr and nothing on stdout, got stdout %q stderr:\n%s", out, errOut)
	}
	for i, want := range []string{
		"stack.yaml:4:5: services.web.portz: unknown key: did you mean \"ports\"?",
		"stack.yaml:6:12: services.db.image: must be a string, not a list",
	} {
		if !strings.HasSuffix(lines[i], want) {
			t.Errorf("line %d = %q, want suffix %q", i, lines[i], want)
		}
	}
}

// TestConfigQuietNames: names that would be paths or globs (a service, a
// container, a volume, a network) fail config -q with their file:line,
// all of them at once, before anything reaches a daemon.
func TestConfigQuietNames(t *testing.T) {
	dir := writeStack(t, `services:
  a/b:
    image: x
  ok:
    image: x
    container_name: "x/../../cnvictim"
    volumes: ["d:/d"]
    networks: [n]
volumes:
  d:
    name: "../../victim"
networks:
  n:
    name: "*"
`)
	code, out, errOut := runCLI(t, dir, "config", "-q")
	if code != 2 || out != "" {
		t.Errorf("exit code %d, stdout %q; want 2 and nothing", code, out)
	}
	for _, want := range []string{
		`stack.yaml:3:5: services.a/b: service name "a/b": must be 1-128 of [a-zA-Z0-9._-]`,
		`stack.yaml:6:21: services.ok.container_name: container_name "x/../../cnvictim"`,
		`stack.yaml:11:11: volumes.d.name: volume name "../../victim"`,
		`stack.yaml:14:11: networks.n.name: network name "*"`,
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr does not say %q:\n%s", want, errOut)
		}
	}
}

func TestConfigFormats(t *testing.T) {
	dir := writeStack(t, "name: demo\nservices:\n  web:\n    image: nginx\n    ports: ['8080:80']\n  worker:\n    image: busybox\n    profiles: [jobs]\nvolumes:\n  data:\n")
	code, out, _ := runCLI(t, dir, "config")
	if code != 0 || !strings.Contains(out, "published: \"8080\"") || strings.Contains(out, "worker") {
		t.Errorf("yaml: code %d, output:\n%s", code, out)
	}
	code, out, _ = runCLI(t, dir, "config", "--format", "json")
	if code != 0 || !strings.Contains(out, `"published": "8080"`) {
		t.Errorf("json: code %d, output:\n%s", code, out)
	}
	code, out, _ = runCLI(t, dir, "config", "--services")
	if code != 0 || out != "web\n" {
		t.Errorf("--services = %q, want only the enabled service", out)
	}
	code, out, _ = runCLI(t, dir, "--profile", "jobs", "config", "--services")
	if code != 0 || out != "web\nworker\n" {
		t.Errorf("--profile jobs --services = %q", out)
	}
	code, out, _ = runCLI(t, dir, "config", "--profiles")
	if code != 0 || out != "jobs\n" {
		t.Errorf("--profiles = %q", out)
	}
	code, out, _ = runCLI(t, dir, "config", "--volumes")
	if code != 0 || out != "data\n" {
		t.Errorf("--volumes = %q", out)
	}
	code, _, errOut := runCLI(t, dir, "config", "--format", "toml")
	if code != 2 || !strings.Contains(errOut, "want yaml or json") {
		t.Errorf("bad format: code %d, stderr %q", code, errOut)
	}
}

func TestUsageErrors(t *testing.T) {
	dir := writeStack(t, "services: {web: {image: nginx}}\n")
	for _, args := range [][]string{{"nosuchcommand"}, {"config", "--nosuchflag"}} {
		code, _, errOut := runCLI(t, dir, args...)
		if code != 2 || !strings.HasPrefix(errOut, "stack: ") || !strings.Contains(errOut, "\n    ") {
			t.Errorf("%v: code %d, stderr %q; want 2, one line and an indented hint", args, code, errOut)
		}
	}
	code, _, errOut := runCLI(t, t.TempDir(), "config")
	if code != 1 || !strings.Contains(errOut, "no stack file") {
		t.Errorf("missing file: code %d, stderr %q", code, errOut)
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := runCLI(t, t.TempDir(), "version", "--short")
	if code != 0 || strings.TrimSpace(out) == "" {
		t.Errorf("version: code %d, out %q", code, out)
	}
}

// NO_COLOR and --ansi never turn colours off, and a terminal display
// cannot be forced then; --ansi always cannot be plain.
func TestAnsiAndNoColor(t *testing.T) {
	dir := writeStack(t, "services: {web: {image: nginx}}\n")
	t.Setenv("NO_COLOR", "1")
	if code, _, errOut := runCLI(t, dir, "--progress", "tty", "config", "-q"); code != 2 || !strings.Contains(errOut, "ANSI support is disabled") {
		t.Errorf("NO_COLOR and --progress tty: exit %d, %q", code, errOut)
	}
	t.Setenv("NO_COLOR", "")
	if code, _, errOut := runCLI(t, dir, "--ansi", "never", "--progress", "tty", "config", "-q"); code != 2 || !strings.Contains(errOut, "ANSI support is disabled") {
		t.Errorf("--ansi never --progress tty: exit %d, %q", code, errOut)
	}
	if code, _, errOut := runCLI(t, dir, "--ansi", "always", "--progress", "plain", "config", "-q"); code != 2 || !strings.Contains(errOut, "ANSI support is forced") {
		t.Errorf("--ansi always --progress plain: exit %d, %q", code, errOut)
	}
	g := &globalOptions{ansi: "always"}
	if !g.color(&strings.Builder{}) {
		t.Error("--ansi always: no colour")
	}
	g.ansi = "auto"
	if g.color(&strings.Builder{}) {
		t.Error("--ansi auto: colour on a pipe")
	}
}
