package runtime

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLogRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	clock := time.Date(2024, 5, 1, 10, 0, 0, 123456789, time.UTC)
	s := &logSink{w: &buf, now: func() time.Time { return clock }}
	long := strings.Repeat("x", MaxLogLine+10)
	if err := s.copyStream("stdout", strings.NewReader("hello\nworld\n"+long+"\ntail")); err != nil {
		t.Fatal(err)
	}
	if err := s.copyStream("stderr", strings.NewReader("oops\n")); err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(buf.String(), "\n")
	if want := `{"log":"hello\n","stream":"stdout","time":"2024-05-01T10:00:00.123456789Z"}`; first != want {
		t.Errorf("first line = %s\nwant         %s", first, want)
	}
	var got []LogEntry
	if err := DecodeLogs(&buf, func(e LogEntry) error { got = append(got, e); return nil }); err != nil {
		t.Fatal(err)
	}
	want := []LogEntry{
		{"hello\n", "stdout", clock}, {"world\n", "stdout", clock},
		{long[:MaxLogLine], "stdout", clock}, {"xxxxxxxxxx\n", "stdout", clock},
		{"tail", "stdout", clock}, {"oops\n", "stderr", clock},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i].Log != want[i].Log || got[i].Stream != want[i].Stream || !got[i].Time.Equal(want[i].Time) {
			t.Errorf("entry %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// TestDecodeLogsEntryBeingWritten: a log read while the shim writes it
// may end inside an entry; the whole entries before it are read, the cut
// one is left for the next read.
func TestDecodeLogsEntryBeingWritten(t *testing.T) {
	log := `{"log":"one\n","stream":"stdout","time":"2024-05-01T10:00:00Z"}` + "\n" + `{"log":"tw`
	var got []string
	if err := DecodeLogs(strings.NewReader(log), func(e LogEntry) error { got = append(got, e.Log); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != "one\n" {
		t.Errorf("got %q, want the first entry only", got)
	}
	if err := DecodeLogs(strings.NewReader(`{"log":1}`), func(LogEntry) error { return nil }); err == nil {
		t.Error("a malformed entry decodes without error")
	}
}

// TestLogRotation: a log rotated by size keeps MaxFiles files, none of
// them above MaxSize, and read oldest first they hold the last lines
// written, in order, none missing between the first kept and the last.
func TestLogRotation(t *testing.T) {
	cfg := LogConfig{Path: filepath.Join(t.TempDir(), "c.log"), MaxSize: 8 << 10, MaxFiles: 3}
	lf, err := openLogFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := &logSink{w: lf, now: time.Now}
	var in strings.Builder
	const lines = 2000 // about 150 KiB of entries: many rotations
	for i := 1; i <= lines; i++ {
		fmt.Fprintf(&in, "line %d\n", i)
	}
	if err := s.copyStream("stdout", strings.NewReader(in.String())); err != nil {
		t.Fatal(err)
	}
	lf.Close()
	files := cfg.Files()
	if want := []string{cfg.Path + ".2", cfg.Path + ".1", cfg.Path}; !slices.Equal(files, want) {
		t.Fatalf("Files() = %q, want %q", files, want)
	}
	if _, err := os.Stat(cfg.Path + ".3"); err == nil {
		t.Errorf("%s.3 exists: more than MaxFiles files kept", cfg.Path)
	}
	var got []int
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > cfg.MaxSize || fi.Size() == 0 {
			t.Errorf("%s: %d bytes, want 1 to %d", filepath.Base(f), fi.Size(), cfg.MaxSize)
		}
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		err = DecodeLogs(fh, func(e LogEntry) error {
			var n int
			if _, err := fmt.Sscanf(e.Log, "line %d\n", &n); err != nil {
				return fmt.Errorf("entry %q: %w", e.Log, err)
			}
			got = append(got, n)
			return nil
		})
		fh.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(got) == 0 || got[len(got)-1] != lines {
		t.Fatalf("the kept lines end at %v, want %d", got[max(len(got)-1, 0):], lines)
	}
	for i := 1; i < len(got); i++ {
		if got[i] != got[i-1]+1 {
			t.Fatalf("line %d follows line %d", got[i], got[i-1])
		}
	}
	// Three files of at most 8 KiB hold a good part of 8 KiB x 3 of
	// entries: the rotation starts a file only when the next entry does
	// not fit.
	if len(got) < 2*lines/20 {
		t.Errorf("only %d lines kept", len(got))
	}
}

// TestOpenLogFileDropsTornEntry: a log whose writer was killed in the
// middle of an entry is cut after its last full line when it is opened
// again, so that what comes next is not glued to the torn entry.
func TestOpenLogFileDropsTornEntry(t *testing.T) {
	for _, tt := range []struct{ name, before, want string }{
		{"empty", "", ""},
		{"whole", "{\"a\":1}\n", "{\"a\":1}\n"},
		{"torn", "{\"a\":1}\n{\"b\":2}\n{\"log\":\"li", "{\"a\":1}\n{\"b\":2}\n"},
		{"only torn", "{\"log\":", ""},
		{"torn past a chunk", "{\"a\":1}\n" + strings.Repeat("x", 200<<10), "{\"a\":1}\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "log")
			if err := os.WriteFile(p, []byte(tt.before), 0o600); err != nil {
				t.Fatal(err)
			}
			l, err := openLogFile(LogConfig{Path: p})
			if err != nil {
				t.Fatal(err)
			}
			if l.size != int64(len(tt.want)) {
				t.Errorf("size %d, want %d", l.size, len(tt.want))
			}
			l.Write([]byte("{\"c\":3}\n"))
			l.f.Close()
			got, _ := os.ReadFile(p)
			if string(got) != tt.want+"{\"c\":3}\n" {
				t.Errorf("log %q, want %q", got, tt.want+"{\"c\":3}\n")
			}
		})
	}
}
