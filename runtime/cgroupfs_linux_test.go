package runtime

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestCgroupFiles runs the daemon's side of a cgroup on fixture trees laid
// out as the kernel lays out v1 (a directory per controller) and v2 (one
// directory): what it reads, and what it writes where.
func TestCgroupFiles(t *testing.T) {
	tests := []struct {
		name  string
		v2    bool
		files map[string]string // the cgroup's files, relative to root
		// frozen, pids, oom: what the files say.
		frozen bool
		pids   []int
		oom    uint64
		// after: files after Thaw and Add(42).
		after map[string]string
	}{
		{
			name: "v1",
			files: map[string]string{
				"freezer/stack/c/freezer.state":      "FROZEN\n",
				"freezer/stack/c/cgroup.procs":       "7\n3\n",
				"pids/stack/c/cgroup.procs":          "7\n3\n",
				"memory/stack/c/memory.oom_control":  "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
				"memory/stack/c/cgroup.procs":        "7\n3\n",
				"devices/stack/c/cgroup.procs":       "7\n3\n",
				"cpu/stack/c/cgroup.procs":           "7\n3\n",
				"unmounted-controller/ignored/x.txt": "",
			},
			frozen: true, pids: []int{3, 7}, oom: 2,
			after: map[string]string{
				"freezer/stack/c/freezer.state":     "THAWED",
				"freezer/stack/c/cgroup.procs":      "42",
				"pids/stack/c/cgroup.procs":         "42",
				"memory/stack/c/memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
				"memory/stack/c/cgroup.procs":       "42",
				"devices/stack/c/cgroup.procs":      "42",
				"cpu/stack/c/cgroup.procs":          "42",
			},
		},
		{
			// A process in some hierarchies only: a creation and a
			// removal that crossed.
			name: "v1 pids hierarchy empty",
			files: map[string]string{
				"freezer/stack/c/freezer.state": "THAWED\n",
				"freezer/stack/c/cgroup.procs":  "",
				"pids/stack/c/cgroup.procs":     "",
				"memory/stack/c/cgroup.procs":   "9\n",
				"cpu/stack/c/cgroup.procs":      "5\n9\n",
			},
			pids: []int{5, 9},
		},
		{
			name: "v2",
			v2:   true,
			files: map[string]string{
				"stack/c/cgroup.freeze":  "1\n",
				"stack/c/cgroup.procs":   "12\n",
				"stack/c/memory.events":  "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n",
				"other/cgroup.procs":     "99\n",
				"stack/cgroup.procs":     "1\n",
				"stack/c/cgroup.threads": "12\n",
			},
			frozen: true, pids: []int{12}, oom: 1,
			after: map[string]string{
				"stack/c/cgroup.freeze":  "0",
				"stack/c/cgroup.procs":   "42",
				"stack/c/memory.events":  "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n",
				"other/cgroup.procs":     "99\n",
				"stack/cgroup.procs":     "1\n",
				"stack/c/cgroup.threads": "12\n",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for name, content := range tt.files {
				p := filepath.Join(root, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			c := cgroupConfig{V2: tt.v2, Root: root, Path: "/stack/c"}
			g, err := openCgroupFiles(c)
			if err != nil {
				t.Fatal(err)
			}
			if got := g.Frozen(); got != tt.frozen {
				t.Errorf("Frozen = %v, want %v", got, tt.frozen)
			}
			if got, err := g.Procs(); err != nil || !reflect.DeepEqual(got, tt.pids) {
				t.Errorf("Procs = %v, %v; want %v", got, err, tt.pids)
			}
			if got := g.OOMKills(); got != tt.oom {
				t.Errorf("OOMKills = %d, want %d", got, tt.oom)
			}
			if tt.after == nil {
				return
			}
			if err := g.Thaw(); err != nil {
				t.Fatal(err)
			}
			if err := g.Add(42); err != nil {
				t.Fatal(err)
			}
			got := fixtureFiles(t, root)
			delete(got, "unmounted-controller/ignored/x.txt")
			want := map[string]string{}
			for name, content := range tt.after {
				want[name] = strings.TrimSpace(content) // as fixtureFiles reads them
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("files after Thaw and Add:\n got %q\nwant %q", got, want)
			}
		})
	}
}

// TestCgroupFilesGone: a container without a cgroup (never made, or
// removed) is told apart from a failure.
func TestCgroupFilesGone(t *testing.T) {
	root := t.TempDir()
	for _, v2 := range []bool{false, true} {
		_, err := openCgroupFiles(cgroupConfig{V2: v2, Root: root, Path: "/stack/c"})
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("v2=%v: openCgroupFiles of a missing cgroup = %v, want fs.ErrNotExist", v2, err)
		}
	}
}
