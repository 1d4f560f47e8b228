package runtime

import "testing"

func TestParseProcStat(t *testing.T) {
	// The name holds a space and a parenthesis: fields count from the
	// last ')'.
	stat := "4242 (my (odd) cmd) S 4200 4242 4242 34816 4242 4194560 120 0 0 0 250 130 0 0 20 0 1 0 98765 1234567 345 18446744073709551615 1 1 0 0 0 0 0 4 0 0 0 17 3 0 0 0 0 0\n"
	p, err := parseProcStat(stat)
	if err != nil {
		t.Fatal(err)
	}
	want := ProcessInfo{PID: 4242, PPID: 4200, TTY: 34816, CPUTicks: 380, Start: 98765, Comm: "my (odd) cmd"}
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

func TestParseNetDev(t *testing.T) {
	dev := `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:  9000      10    0    0    0     0          0         0     9000      10    0    0    0     0       0          0
  eth0:  1500      12    0    0    0     0          0         0      700       8    0    0    0     0       0          0
  eth1:   500       2    0    0    0     0          0         0      300       1    0    0    0     0       0          0
`
	got := parseNetDev(dev)
	want := map[string]NetCounters{"eth0": {1500, 12, 700, 8}, "eth1": {500, 2, 300, 1}}
	if len(got) != len(want) || got["eth0"] != want["eth0"] || got["eth1"] != want["eth1"] {
		t.Errorf("got %v, want %v (loopback left out)", got, want)
	}
}
