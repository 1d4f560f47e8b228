package daemon

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/runtime"
)

// TestLogConfig: a container's log rotates as its service's logging
// options say, else as the daemon's configuration does, else by the
// built-in default; each option the service sets overrides only itself.
func TestLogConfig(t *testing.T) {
	r := &record{ID: "0123abcd"}
	tests := []struct {
		name    string
		cfg     Config
		opts    map[string]string
		want    runtime.LogConfig
		wantErr string
	}{
		{"defaults", Config{}, nil, runtime.LogConfig{MaxSize: DefaultLogMaxSize, MaxFiles: DefaultLogMaxFiles}, ""},
		{"the daemon's", Config{LogMaxSize: 1 << 20, LogMaxFiles: 5}, nil, runtime.LogConfig{MaxSize: 1 << 20, MaxFiles: 5}, ""},
		{"the service's", Config{LogMaxSize: 1 << 20, LogMaxFiles: 5}, map[string]string{"max-size": "8k", "max-file": "3"}, runtime.LogConfig{MaxSize: 8 << 10, MaxFiles: 3}, ""},
		{"the service's size", Config{LogMaxSize: 1 << 20, LogMaxFiles: 5}, map[string]string{"max-size": "10m"}, runtime.LogConfig{MaxSize: 10 << 20, MaxFiles: 5}, ""},
		{"the service's count", Config{}, map[string]string{"max-file": "1"}, runtime.LogConfig{MaxSize: DefaultLogMaxSize, MaxFiles: 1}, ""},
		{"bad size", Config{}, map[string]string{"max-size": "8 parsecs"}, runtime.LogConfig{}, `max-size "8 parsecs"`},
		{"zero count", Config{}, map[string]string{"max-file": "0"}, runtime.LogConfig{}, `max-file "0"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.StateRoot = "/state"
			d := &Daemon{cfg: tt.cfg}
			got, err := d.logConfig(r, tt.opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.want.Path = "/state/logs/0123abcd.log"
			if got != tt.want {
				t.Errorf("logConfig = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// rotatedLog writes lines 1..n of a log as the shim's rotation leaves
// them: perFile entries a file, the newest in cfg.Path, and returns cfg.
func rotatedLog(t *testing.T, n, perFile, files int) runtime.LogConfig {
	t.Helper()
	cfg := runtime.LogConfig{Path: filepath.Join(t.TempDir(), "c.log"), MaxSize: 1 << 20, MaxFiles: files}
	t0 := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	for i := 1; i <= n; i++ {
		// File k (0 the newest) holds lines n-perFile*(k+1)+1 .. n-perFile*k.
		k := (n - i) / perFile
		path := cfg.Path
		if k > 0 {
			path = fmt.Sprintf("%s.%d", cfg.Path, k)
		}
		line, _ := json.Marshal(runtime.LogEntry{Log: fmt.Sprintf("line %d\n", i), Stream: "stdout", Time: t0.Add(time.Duration(i) * time.Millisecond)})
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		f.Write(append(line, '\n'))
		f.Close()
	}
	return cfg
}

// numbers returns the line numbers of entries "line N\n".
func numbers(t *testing.T, logs []string) []int {
	t.Helper()
	var out []int
	for _, l := range logs {
		var n int
		if _, err := fmt.Sscanf(l, "line %d\n", &n); err != nil {
			t.Fatalf("entry %q: %v", l, err)
		}
		out = append(out, n)
	}
	return out
}

func wantRun(t *testing.T, what string, got []int, from, to int) {
	t.Helper()
	ok := len(got) == to-from+1
	for i := 0; ok && i < len(got); i++ {
		ok = got[i] == from+i
	}
	if !ok {
		t.Errorf("%s: lines %v, want %d to %d in order", what, got, from, to)
	}
}

// TestLogsAcrossRotatedFiles: a tail, a full read and a follow of a log
// rotated into several files each read across the files, oldest first,
// and lose no line to a rotation between two reads.
func TestLogsAcrossRotatedFiles(t *testing.T) {
	// 25 lines, 4 a file, 3 files kept: lines 14 to 25 are there.
	cfg := rotatedLog(t, 25, 4, 3)
	files := logFiles(cfg)
	if len(files) != 3 {
		t.Fatalf("logFiles = %+v, want 3 files", files)
	}
	for _, n := range []int{1, 3, 4, 5, 9, 12, 100} {
		entries, err := tailEntries(files, n, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		var logs []string
		for _, e := range entries {
			logs = append(logs, e.Log)
		}
		wantRun(t, fmt.Sprintf("tail %d", n), numbers(t, logs), max(25-n+1, 14), 25)
	}
	since := time.Date(2024, 5, 1, 10, 0, 0, 20*int(time.Millisecond), time.UTC)
	entries, _ := tailEntries(files, 100, since)
	var logs []string
	for _, e := range entries {
		logs = append(logs, e.Log)
	}
	wantRun(t, "tail since line 20", numbers(t, logs), 20, 25)

	logs = nil
	err := mergeStreams([]*entryStream{{rec: &record{Name: "c"}, files: files}}, func(l api.LogLine) error {
		logs = append(logs, l.Line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantRun(t, "a full read", numbers(t, logs), 14, 25)

	// A follower at the end; the log then rotates twice and grows.
	cur := endOf(files)
	for _, p := range []string{cfg.Path + ".2", cfg.Path + ".1"} {
		os.Remove(p)
	}
	os.Rename(cfg.Path, cfg.Path+".2")
	more := rotatedLog(t, 8, 4, 2) // lines 1-4 in .1, 5-8 current
	for _, p := range []string{"", ".1"} {
		data, _ := os.ReadFile(more.Path + p)
		data = []byte(strings.ReplaceAll(string(data), `"line `, `"line 10`))
		os.WriteFile(cfg.Path+p, data, 0o600)
	}
	logs = nil
	if err := cur.readNew(logFiles(cfg), func(e runtime.LogEntry) error { logs = append(logs, e.Log); return nil }); err != nil {
		t.Fatal(err)
	}
	wantRun(t, "a follow across two rotations", numbers(t, logs), 101, 108)
}
