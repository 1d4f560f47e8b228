package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// composeRow is one line of testdata/compose-commands.txt: a command line,
// the exit code compose documents for it, and checks of its output.
type composeRow struct {
	line   int
	exit   int
	skip   string // why the row is not run
	checks []string
	env    []string
	args   []string
}

// composePort is the web service's published port in testdata/compose.
const composePort = "18471"

// TestRootComposeCommands runs every row of testdata/compose-commands.txt,
// in order, against the project of testdata/compose on a real engine, and
// compares exit codes and output shapes with compose's.
func TestRootComposeCommands(t *testing.T) {
	e := newEnv(t)
	if err := os.CopyFS(e.dir, os.DirFS("testdata/compose")); err != nil {
		t.Fatal(err)
	}
	rows := readComposeRows(t, "testdata/compose-commands.txt", e.project)
	for _, r := range rows {
		name := fmt.Sprintf("%03d %s", r.line, strings.Join(r.args, " "))
		t.Run(name, func(t *testing.T) {
			if r.skip != "" {
				t.Skip(r.skip)
			}
			code, out, errOut := e.runRow(r)
			if code != r.exit {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, r.exit, tail(out), tail(errOut))
			}
			for _, c := range r.checks {
				if msg := checkOutput(c, out, errOut, e.dir); msg != "" {
					t.Errorf("%s: %s\nstdout:\n%s\nstderr:\n%s", c, msg, tail(out), tail(errOut))
				}
			}
		})
	}
}

// tail is the end of a long output, for a failure's message.
func tail(s string) string {
	if len(s) > 2000 {
		return "..." + s[len(s)-2000:]
	}
	return s
}

// runRow runs a row's command, interrupting it when a check asks.
func (e *env) runRow(r composeRow) (int, string, string) {
	e.t.Helper()
	cmd := exec.Command(stackBin, r.args...)
	cmd.Env = append(slices.Clone(e.vars), r.env...)
	cmd.Dir = e.dir
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	for _, c := range r.checks {
		if d, ok := strings.CutPrefix(c, "interrupt="); ok {
			dur, err := time.ParseDuration(d)
			if err != nil {
				e.t.Fatal(err)
			}
			time.AfterFunc(dur, func() { cmd.Process.Signal(syscall.SIGINT) })
		}
	}
	timer := time.AfterFunc(3*time.Minute, func() { cmd.Process.Kill() })
	defer timer.Stop()
	err := cmd.Wait()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatal(err)
	}
	return code, out.String(), errOut.String()
}

// readComposeRows parses the list; $PROJECT and $PORT are replaced.
func readComposeRows(t *testing.T, path, project string) []composeRow {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []composeRow
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.NewReplacer("$PROJECT", project, "$PORT", composePort).Replace(line)
		first, last := strings.Index(line, " | "), strings.LastIndex(line, " | ")
		if first < 0 || first == last {
			t.Fatalf("%s:%d: want EXIT | CHECKS | COMMAND", path, n)
		}
		r := composeRow{line: n}
		exitField, checks, command := line[:first], strings.TrimSpace(line[first+3:last]), line[last+3:]
		if reason, ok := strings.CutPrefix(exitField, "skip: "); ok {
			r.skip = reason
		} else if r.exit, err = strconv.Atoi(exitField); err != nil {
			t.Fatalf("%s:%d: exit code %q", path, n, exitField)
		}
		for _, c := range strings.Split(checks, " ; ") {
			if c = strings.TrimSpace(c); c != "" && c != "-" {
				r.checks = append(r.checks, c)
			}
		}
		words, err := splitWords(command)
		if err != nil {
			t.Fatalf("%s:%d: %v", path, n, err)
		}
		for len(words) > 0 && strings.Contains(words[0], "=") && !strings.HasPrefix(words[0], "-") {
			r.env, words = append(r.env, words[0]), words[1:]
		}
		r.args = words
		rows = append(rows, r)
	}
	return rows
}

// splitWords splits a command line at spaces, keeping what single quotes
// enclose together.
func splitWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for _, c := range s {
		switch {
		case c == '\'':
			quoted, inWord = !quoted, true
		case c == ' ' && !quoted:
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(c)
			inWord = true
		}
	}
	if quoted {
		return nil, fmt.Errorf("unclosed quote in %q", s)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// checkOutput checks one CHECK of a row; it returns what is wrong, or "".
func checkOutput(check, out, errOut, dir string) string {
	kind, arg, _ := strings.Cut(check, "=")
	if k, text, ok := strings.Cut(check, "~"); ok && !strings.Contains(k, "=") {
		stream := map[string]string{"out": out, "!out": out, "err": errOut, "!err": errOut}[k]
		has := strings.Contains(stream, text)
		if strings.HasPrefix(k, "!") == has {
			return "wrong"
		}
		return ""
	}
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	switch kind {
	case "empty":
		if out != "" {
			return "stdout is not empty"
		}
	case "lines":
		if n, _ := strconv.Atoi(arg); len(lines) != n {
			return fmt.Sprintf("%d lines", len(lines))
		}
	case "header":
		if len(lines) == 0 || strings.Join(strings.Fields(lines[0]), " ") != arg {
			return "first line differs"
		}
	case "jsonl":
		if len(lines) == 0 {
			return "no JSON lines"
		}
		for _, l := range lines {
			var obj map[string]any
			if err := json.Unmarshal([]byte(l), &obj); err != nil {
				return fmt.Sprintf("line %q: %v", l, err)
			}
			if msg := hasKeys(obj, arg); msg != "" {
				return msg
			}
		}
	case "jsona":
		var arr []map[string]any
		if err := json.Unmarshal([]byte(out), &arr); err != nil || len(arr) == 0 || len(lines) != 1 {
			return fmt.Sprintf("want one line with a JSON array of objects: %v", err)
		}
		for _, obj := range arr {
			if msg := hasKeys(obj, arg); msg != "" {
				return msg
			}
		}
	case "jsono":
		var obj map[string]any
		if err := json.Unmarshal([]byte(out), &obj); err != nil {
			return err.Error()
		}
		return hasKeys(obj, arg)
	case "file":
		if _, err := os.Stat(filepath.Join(dir, arg)); err != nil {
			return err.Error()
		}
	case "interrupt":
	default:
		return "unknown check"
	}
	return ""
}

func hasKeys(obj map[string]any, keys string) string {
	for _, k := range strings.Split(keys, ",") {
		if _, ok := obj[k]; !ok {
			return fmt.Sprintf("key %s missing from %v", k, obj)
		}
	}
	return ""
}

// TestComposeCommandList checks the list itself, without root: every
// docker compose command is in it, run or skipped with a reason.
func TestComposeCommandList(t *testing.T) {
	rows := readComposeRows(t, "testdata/compose-commands.txt", "p")
	seen := map[string]bool{}
	for _, r := range rows {
		for i := 0; i < len(r.args); i++ {
			a := r.args[i]
			if slices.Contains([]string{"-f", "-p", "--project-directory", "--env-file", "--profile", "--progress", "--ansi", "--parallel"}, a) {
				i++ // the flag's value
				continue
			}
			if !strings.HasPrefix(a, "-") {
				seen[a] = true
				break
			}
		}
	}
	// docker compose's commands (docs/reference of docker/compose).
	for _, c := range []string{"attach", "build", "bridge", "commit", "config", "cp", "create", "down", "events", "exec", "export",
		"images", "kill", "logs", "ls", "pause", "port", "ps", "publish", "pull", "push", "restart", "rm", "run", "scale", "start",
		"stats", "stop", "top", "unpause", "up", "version", "volumes", "wait", "watch", "alpha"} {
		if !seen[c] && c != "watch" { // watch edits files: TestRootWatch
			t.Errorf("compose command %s is not in the list", c)
		}
	}
}
