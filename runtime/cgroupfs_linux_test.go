package runtime

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestCgroupFiles runs the daemon's side of a cgroup on fixture trees laid
// out as the kernel lays out v1 (a directory per controller) and v2 (one
// directory): what it reads, and what it writes where. (Freezing waits
// for the kernel, which a fixture does not have: the root tests pause
// real containers on v1 and v2.)
func TestCgroupFiles(t *testing.T) {
	tests := []struct {
		name  string
		v2    bool
		files map[string]string // the cgroup's files, relative to root
		// frozen, pids, oom: what the files say.
		frozen bool
		pids   []int
		oom    uint64
		stats  Stats
		// written: the files Thaw and Add(42) change, and how; no other
		// file may change.
		written map[string]string
	}{
		{
			name: "v1",
			files: map[string]string{
				"freezer/stack/c/freezer.state":        "FROZEN\n",
				"freezer/stack/c/cgroup.procs":         "7\n3\n",
				"pids/stack/c/cgroup.procs":            "7\n3\n",
				"memory/stack/c/memory.oom_control":    "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
				"memory/stack/c/cgroup.procs":          "7\n3\n",
				"devices/stack/c/cgroup.procs":         "7\n3\n",
				"cpu/stack/c/cgroup.procs":             "7\n3\n",
				"cpuacct/stack/c/cpuacct.usage":        "1500000000\n",
				"cpuacct/stack/c/cgroup.procs":         "7\n3\n",
				"memory/stack/c/memory.usage_in_bytes": "4096\n",
				"memory/stack/c/memory.limit_in_bytes": "9223372036854771712\n",
				"pids/stack/c/pids.current":            "2\n",
				"pids/stack/c/pids.max":                "max\n",
				// The named systemd hierarchy limits nothing: not
				// the container's.
				"systemd/stack/c/cgroup.procs": "7\n3\n",
			},
			frozen: true, pids: []int{3, 7}, oom: 2,
			stats: Stats{CPUUsage: 1500 * time.Millisecond, MemoryUsage: 4096, MemoryLimit: 9223372036854771712, Pids: 2},
			written: map[string]string{
				"freezer/stack/c/freezer.state": "THAWED",
				"freezer/stack/c/cgroup.procs":  "42",
				"pids/stack/c/cgroup.procs":     "42",
				"memory/stack/c/cgroup.procs":   "42",
				"devices/stack/c/cgroup.procs":  "42",
				"cpu/stack/c/cgroup.procs":      "42",
				"cpuacct/stack/c/cgroup.procs":  "42",
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
				"stack/c/cgroup.events":  "populated 1\nfrozen 0\n",
				"stack/c/cpu.stat":       "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n",
				"stack/c/memory.current": "8192\n",
				"stack/c/memory.max":     "max\n",
				"stack/c/pids.current":   "1\n",
				"stack/c/pids.max":       "64\n",
			},
			frozen: true, pids: []int{12}, oom: 1,
			stats: Stats{CPUUsage: 2500 * time.Microsecond, MemoryUsage: 8192, MemoryLimit: ^uint64(0), Pids: 1, PidsLimit: 64},
			written: map[string]string{
				"stack/c/cgroup.freeze": "0",
				"stack/c/cgroup.procs":  "42",
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
			if got, err := g.Stats(); err != nil || got != tt.stats {
				t.Errorf("Stats = %+v, %v; want %+v", got, err, tt.stats)
			}
			if tt.written == nil {
				return
			}
			if err := g.Thaw(); err != nil {
				t.Fatal(err)
			}
			if err := g.Add(42); err != nil {
				t.Fatal(err)
			}
			got := fixtureFiles(t, root)
			want := map[string]string{}
			for name, content := range tt.files {
				want[name] = strings.TrimSpace(content) // as fixtureFiles reads them
			}
			for name, content := range tt.written {
				want[name] = content
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

// fixtureFiles reads every regular file under dir as "path=content".
func fixtureFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, p)
		out[rel] = strings.TrimSpace(string(b))
		return nil
	})
	return out
}
