package runtime

import (
	"bytes"
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
