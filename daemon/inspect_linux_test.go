package daemon

import (
	"testing"
	"time"

	"github.com/stack-dev/stack/runtime"
)

func TestProcFormats(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  string
		want string
	}{
		{"no cpu time", formatCPUTime(0), "00:00:00"},
		{"hours", formatCPUTime(3*3600 + 25*60 + 7), "03:25:07"},
		{"days", formatCPUTime(2*86400 + 61), "2-00:01:01"},
		{"no tty", formatTTY(0), "?"},
		{"pts/0", formatTTY(136 << 8), "pts/0"},
		{"pts/300", formatTTY(137<<8 | 44), "pts/300"},
		{"tty1", formatTTY(4<<8 | 1), "tty1"},
		{"ttyS0", formatTTY(4<<8 | 64), "ttyS0"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, tc.got, tc.want)
		}
	}
	now := time.Date(2024, 5, 17, 15, 30, 0, 0, time.Local)
	for _, tc := range []struct {
		start time.Time
		want  string
	}{
		{time.Date(2024, 5, 17, 9, 5, 0, 0, time.Local), "09:05"},
		{time.Date(2024, 3, 2, 9, 5, 0, 0, time.Local), "Mar02"},
		{time.Date(2023, 5, 17, 9, 5, 0, 0, time.Local), "2023"},
	} {
		if got := formatSTime(tc.start, now); got != tc.want {
			t.Errorf("formatSTime(%v): got %q, want %q", tc.start, got, tc.want)
		}
	}
}

func TestProcRow(t *testing.T) {
	boot := time.Date(2024, 5, 17, 8, 0, 0, 0, time.Local)
	c := runtime.Clock{Boot: boot, Uptime: 200, Now: boot.Add(200 * time.Second)}
	p := runtime.ProcessInfo{PID: 7, PPID: 1, UID: "0", CPUTicks: 5000, Start: 10000, Comm: "sh", Cmdline: []string{"sleep", "3600"}}
	got := psRow(p, c, map[string]string{"0": "root"})
	want := []string{"root", "7", "1", "50", "08:01", "?", "00:00:50", "sleep 3600"}
	if len(got) != len(want) {
		t.Fatalf("got %q", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%s: got %q, want %q", topTitles[i], got[i], want[i])
		}
	}
	p.Cmdline = nil
	if got := psRow(p, c, map[string]string{"0": "root"}); got[7] != "[sh]" {
		t.Errorf("kernel-style name: got %q", got[7])
	}
}
