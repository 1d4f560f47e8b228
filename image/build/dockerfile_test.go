package build

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stack-dev/stack/internal/errdefs"
)

func TestParseErrorsNameTheLine(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"unknown instruction", "FROM scratch\nRUNN echo\n", "Dockerfile:2:"},
		{"empty", "# nothing\n", "Dockerfile:1:"},
		{"instruction before from", "RUN echo\nFROM scratch\n", "Dockerfile:1:"},
		{"bad healthcheck", "FROM scratch\n\nHEALTHCHECK --interval=x CMD true\n", "Dockerfile:3:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseDockerfile("Dockerfile", []byte(tt.src))
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("err = %v, want one containing %q and invalid argument", err, tt.want)
			}
		})
	}
}

func TestPlanSkipsUnneededStages(t *testing.T) {
	src := `FROM scratch AS a
FROM scratch AS b
COPY --from=a /x /x
FROM scratch AS unused
FROM b AS final
FROM scratch AS other
`
	df, err := parseDockerfile("Dockerfile", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		target string
		order  []int
		steps  int
	}{
		{"", []int{4}, 1},
		{"final", []int{0, 1, 3}, 4},
		{"B", []int{0, 1}, 3},
	}
	for _, tt := range tests {
		p, err := df.plan(tt.target, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slicesEqual(p.order, tt.order) || p.steps != tt.steps {
			t.Errorf("plan(%q) = %v (%d steps), want %v (%d)", tt.target, p.order, p.steps, tt.order, tt.steps)
		}
	}
	if _, err := df.plan("nope", nil); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("unknown target: %v", err)
	}
}

func slicesEqual(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// The cache follows content: touching a file keeps its hash, editing it
// or adding a file changes it, and .dockerignore'd files do not count.
func TestHashSourcesFollowsContent(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("src/a.go", "package a")
	write("src/tmp.log", "noise")
	write(".dockerignore", "**/*.log\n")
	ig, err := readDockerignore(dir)
	if err != nil {
		t.Fatal(err)
	}
	r := &run{ctxDir: dir, ignore: ig}
	hash := func() string {
		t.Helper()
		srcs, err := r.contextSources([]string{"src"})
		if err != nil {
			t.Fatal(err)
		}
		h, err := r.hashSources(srcs)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	h0 := hash()
	future := time.Now().Add(time.Hour)
	os.Chtimes(filepath.Join(dir, "src/a.go"), future, future)
	if hash() != h0 {
		t.Error("touching a file changed the hash")
	}
	write("src/tmp.log", "more noise")
	if hash() != h0 {
		t.Error("an ignored file changed the hash")
	}
	write("src/a.go", "package b")
	if hash() == h0 {
		t.Error("editing a file kept the hash")
	}
	if _, err := r.contextSources([]string{"src/*.log"}); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("a source that only matches ignored files: %v", err)
	}
	if srcs, err := r.contextSources([]string{"../../etc/passwd"}); err == nil {
		t.Errorf("a source outside the context was found: %v", srcs)
	}
}

func TestResolveOwner(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\nstaff:x:50:\n"), 0o644)
	tests := []struct {
		spec     string
		uid, gid int
		err      bool
	}{
		{"", 0, 0, false},
		{"app", 1000, 1001, false},
		{"app:staff", 1000, 50, false},
		{"42", 42, 42, false},
		{"42:7", 42, 7, false},
		{"nobody", 0, 0, true},
	}
	for _, tt := range tests {
		o, err := resolveOwner(root, tt.spec)
		if (err != nil) != tt.err || (!tt.err && (o.uid != tt.uid || o.gid != tt.gid)) {
			t.Errorf("resolveOwner(%q) = %+v, %v", tt.spec, o, err)
		}
	}
}
