package daemon

import (
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	// The name holds a space and a parenthesis: fields count from the
	// last ')'.
	stat := "4242 (my (odd) cmd) S 4200 4242 4242 34816 4242 4194560 120 0 0 0 250 130 0 0 20 0 1 0 98765 1234567 345 18446744073709551615 1 1 0 0 0 0 0 4 0 0 0 17 3 0 0 0 0 0\n"
	p, err := parseProcStat(stat)
	if err != nil {
		t.Fatal(err)
	}
	want := procInfo{PID: 4242, PPID: 4200, TTY: 34816, CPUTicks: 380, Start: 98765, Comm: "my (odd) cmd"}
	if p.PID != want.PID || p.PPID != want.PPID || p.TTY != want.TTY || p.CPUTicks != want.CPUTicks || p.Start != want.Start || p.Comm != want.Comm {
		t.Errorf("got %+v, want %+v", p, want)
	}
	for _, bad := range []string{"", "12 sleep S 1", "x (a) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20", "12 (a) S 1 2"} {
		if _, err := parseProcStat(bad); err == nil {
			t.Errorf("parseProcStat(%q): no error", bad)
		}
	}
}

func TestStatusUID(t *testing.T) {
	if got := statusUID("Name:\tsleep\nUid:\t1000\t33\t33\t33\nGid:\t0\t0\t0\t0\n"); got != "33" {
		t.Errorf("effective uid: got %q", got)
	}
	if got := statusUID("Name:\tx\n"); got != "?" {
		t.Errorf("no Uid line: got %q", got)
	}
}

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
	c := clock{boot: boot, uptime: 200, now: boot.Add(200 * time.Second)}
	p := procInfo{PID: 7, PPID: 1, UID: "0", CPUTicks: 5000, Start: 10000, Comm: "sh", Cmdline: []string{"sleep", "3600"}}
	got := p.row(c, map[string]string{"0": "root"})
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
	if got := p.row(c, map[string]string{"0": "root"}); got[7] != "[sh]" {
		t.Errorf("kernel-style name: got %q", got[7])
	}
}

func TestParseNetDev(t *testing.T) {
	dev := `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:  9000      10    0    0    0     0          0         0     9000      10    0    0    0     0       0          0
  eth0:  1500      12    0    0    0     0          0         0      700       8    0    0    0     0       0          0
  eth1:   500       2    0    0    0     0          0         0      300       1    0    0    0     0       0          0
`
	rx, tx := parseNetDev(dev)
	if rx != 2000 || tx != 1000 {
		t.Errorf("got rx %d tx %d, want 2000 and 1000 (loopback left out)", rx, tx)
	}
}
