package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRootLogsRotate: a service whose logging options rotate its log at
// 8 KiB into 3 files prints 2000 numbered lines (about 150 KiB of log,
// so many rotations): logs --tail 5 shows exactly the last 5; logs shows
// every line the kept files hold, in order, ending at the last; no file
// is above max-size; and logs --tail 5 -f shows the last 5 and then the
// lines that come after.
func TestRootLogsRotate(t *testing.T) {
	e := newEnv(t)
	e.writeStack(`services:
  counter:
    image: busybox
    command: [sh, -c, "i=1; while [ $$i -le 2000 ]; do echo \"line $$i\"; i=$$((i+1)); done; while [ ! -e /tmp/go ]; do sleep 0.05; done; while [ $$i -le 2010 ]; do echo \"line $$i\"; i=$$((i+1)); done; exec sleep 3600"]
    logging:
      driver: json-file
      options: {max-size: 8k, max-file: "3"}
`)
	e.mustRun("up", "-d")
	for i := 0; ; i++ {
		if out := e.mustRun("logs", "--no-log-prefix", "--tail", "1", "counter"); out == "line 2000\n" {
			break
		}
		if i == 300 {
			t.Fatal("the counter never printed line 2000")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got, want := e.mustRun("logs", "--no-log-prefix", "--tail", "5", "counter"), "line 1996\nline 1997\nline 1998\nline 1999\nline 2000\n"; got != want {
		t.Errorf("logs --tail 5:\n%s\nwant:\n%s", got, want)
	}

	// The log's files, as the shim left them.
	logPath := e.logPath("counter")
	var onDisk int
	for _, suffix := range []string{".2", ".1", ""} {
		p := logPath + suffix
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("the log has not rotated into 3 files: %v", err)
		}
		if len(data) > 8<<10 {
			t.Errorf("%s: %d bytes, above max-size 8k", filepath.Base(p), len(data))
		}
		onDisk += strings.Count(string(data), "\n")
	}
	if _, err := os.Stat(logPath + ".3"); err == nil {
		t.Errorf("%s.3 exists: more files than max-file 3", logPath)
	}

	// All of it: a contiguous run ending at the last line, across the
	// three files (more lines than the current one holds).
	lines := strings.Split(strings.TrimSuffix(e.mustRun("logs", "--no-log-prefix", "counter"), "\n"), "\n")
	first := lineNumber(t, lines[0])
	for i, l := range lines {
		if n := lineNumber(t, l); n != first+i {
			t.Fatalf("logs: %q at position %d of a run that starts at line %d", l, i, first)
		}
	}
	if last := first + len(lines) - 1; last != 2000 || len(lines) != onDisk {
		t.Errorf("logs shows lines %d to %d (%d lines); the files hold %d, to line 2000", first, last, len(lines), onDisk)
	}
	current, _ := os.ReadFile(logPath)
	if len(lines) <= strings.Count(string(current), "\n") {
		t.Errorf("logs shows %d lines, no more than the current file holds: the rotated files are not read", len(lines))
	}

	// --tail with -f: the last 5, then what comes after.
	follow := exec.Command(stackBin, "logs", "--no-log-prefix", "--tail", "5", "-f", "counter")
	follow.Env, follow.Dir = e.vars, e.dir
	var followed syncBuffer
	follow.Stdout = &followed
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { follow.Process.Kill(); follow.Wait() }()
	for i := 0; !strings.Contains(followed.String(), "line 2000\n"); i++ {
		if i == 200 {
			t.Fatalf("logs --tail 5 -f never showed line 2000: %q", followed.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.mustRun("exec", "-T", "counter", "touch", "/tmp/go")
	for i := 0; !strings.Contains(followed.String(), "line 2010\n"); i++ {
		if i == 200 {
			t.Fatalf("logs --tail 5 -f never showed line 2010: %q", followed.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	follow.Process.Kill()
	follow.Wait()
	var want strings.Builder
	for n := 1996; n <= 2010; n++ {
		fmt.Fprintf(&want, "line %d\n", n)
	}
	if got := followed.String(); got != want.String() {
		t.Errorf("logs --tail 5 -f:\n%s\nwant:\n%s", got, want.String())
	}
}

// logPath returns the log file of the service's container, from its
// record.
func (e *env) logPath(service string) string {
	e.t.Helper()
	for _, p := range globs(filepath.Join(e.root, "projects", e.project, "*.json")) {
		var rec struct {
			Service string `json:"service"`
			Log     struct {
				Path string `json:"path"`
			} `json:"log"`
		}
		data, _ := os.ReadFile(p)
		if json.Unmarshal(data, &rec) == nil && rec.Service == service && rec.Log.Path != "" {
			return rec.Log.Path
		}
	}
	e.t.Fatalf("no record of %s with a log", service)
	return ""
}

func lineNumber(t *testing.T, l string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscanf(l, "line %d", &n); err != nil {
		t.Fatalf("a line that is not the counter's: %q", l)
	}
	return n
}
