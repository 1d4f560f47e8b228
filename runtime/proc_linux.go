package runtime

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/stack-dev/stack/internal/errdefs"
)

// What the host's /proc says of a container's processes, its network
// namespace and the host's clock (proc(5)): the runtime's to read, as
// runc's Container.Processes and Stats are; the daemon formats it.

// ClockTicks is USER_HZ, the unit of the times in /proc/PID/stat and
// /proc/stat: 100 on every architecture Linux runs on (proc(5),
// sysconf(_SC_CLK_TCK)).
const ClockTicks = 100

// ProcessInfo is what ps -ef shows of a process, as /proc has it.
type ProcessInfo struct {
	PID, PPID int
	UID       string // effective
	TTY       int    // tty_nr: the controlling terminal's device number
	CPUTicks  uint64 // utime + stime, in ClockTicks
	Start     uint64 // ClockTicks after boot
	Comm      string
	Cmdline   []string
}

// ReadProcess reads /proc/PID/{stat,status,cmdline}. It fails with an
// error for which errors.Is(err, fs.ErrNotExist) holds when the process
// is gone.
func ReadProcess(pid int) (ProcessInfo, error) {
	dir := "/proc/" + strconv.Itoa(pid)
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return ProcessInfo{}, err
	}
	p, err := parseProcStat(string(stat))
	if err != nil {
		return ProcessInfo{}, fmt.Errorf("%s/stat: %w", dir, err)
	}
	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return ProcessInfo{}, err
	}
	p.UID = statusUID(string(status))
	cmdline, _ := os.ReadFile(dir + "/cmdline")
	if c := strings.TrimRight(string(cmdline), "\x00"); c != "" {
		p.Cmdline = strings.Split(c, "\x00")
	}
	return p, nil
}

// parseProcStat reads /proc/PID/stat (proc(5)). The command name is in
// parentheses and may itself hold spaces and parentheses, so the fields
// are counted from the last ')'.
func parseProcStat(s string) (ProcessInfo, error) {
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return ProcessInfo{}, fmt.Errorf("malformed stat %q: %w", s, errdefs.ErrInvalidArgument)
	}
	var p ProcessInfo
	var err error
	if p.PID, err = strconv.Atoi(strings.TrimSpace(s[:open])); err != nil {
		return ProcessInfo{}, fmt.Errorf("malformed stat %q: %w", s, errdefs.ErrInvalidArgument)
	}
	p.Comm = s[open+1 : end]
	// After the name: state(3) ppid(4) pgrp session tty_nr(7) tpgid flags
	// minflt cminflt majflt cmajflt utime(14) stime(15) cutime cstime
	// priority nice num_threads itrealvalue starttime(22).
	f := strings.Fields(s[end+1:])
	if len(f) < 20 {
		return ProcessInfo{}, fmt.Errorf("malformed stat %q: %w", s, errdefs.ErrInvalidArgument)
	}
	num := func(i int) uint64 { n, _ := strconv.ParseUint(f[i], 10, 64); return n }
	p.PPID = int(num(1))
	tty, _ := strconv.ParseInt(f[4], 10, 64)
	p.TTY = int(tty)
	p.CPUTicks = num(11) + num(12)
	p.Start = num(19)
	return p, nil
}

// statusUID returns the effective UID of a /proc/PID/status.
func statusUID(s string) string {
	for _, line := range strings.Split(s, "\n") {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			if f := strings.Fields(rest); len(f) >= 2 {
				return f[1]
			}
		}
	}
	return "?"
}

// Clock is what turns ClockTicks after boot into times.
type Clock struct {
	Boot   time.Time // from /proc/stat btime
	Uptime float64   // seconds, from /proc/uptime
	Now    time.Time
}

// ReadClock reads the host's boot time and uptime; a field it cannot
// read is left zero.
func ReadClock() Clock {
	c := Clock{Now: time.Now()}
	if data, err := os.ReadFile("/proc/stat"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "btime "); ok {
				secs, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				c.Boot = time.Unix(secs, 0)
			}
		}
	}
	if data, err := os.ReadFile("/proc/uptime"); err == nil {
		if f := strings.Fields(string(data)); len(f) > 0 {
			c.Uptime, _ = strconv.ParseFloat(f[0], 64)
		}
	}
	return c
}

// SystemCPU is the host's CPU time since boot, all CPUs and states but
// idle's included, as docker's system_cpu_usage (the first line of
// /proc/stat); 0 when it cannot be read.
func SystemCPU() time.Duration {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0
	}
	fields := strings.Fields(sc.Text())
	if len(fields) < 8 || fields[0] != "cpu" {
		return 0
	}
	var ticks uint64
	for _, v := range fields[1:8] { // user nice system idle iowait irq softirq
		n, _ := strconv.ParseUint(v, 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * time.Second / ClockTicks
}

// NetCounters are one network interface's counters.
type NetCounters struct {
	RxBytes, RxPackets, TxBytes, TxPackets uint64
}

// NetDevices reads the counters of each interface of the network
// namespace of process pid (/proc/PID/net/dev), loopback left out.
func NetDevices(pid int) (map[string]NetCounters, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/net/dev")
	if err != nil {
		return nil, err
	}
	return parseNetDev(string(data)), nil
}

// parseNetDev reads a /proc/PID/net/dev, loopback left out.
func parseNetDev(s string) map[string]NetCounters {
	out := map[string]NetCounters{}
	for _, line := range strings.Split(s, "\n") {
		name, rest, ok := strings.Cut(line, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "lo" {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 10 {
			continue
		}
		num := func(i int) uint64 { n, _ := strconv.ParseUint(f[i], 10, 64); return n }
		out[name] = NetCounters{RxBytes: num(0), RxPackets: num(1), TxBytes: num(8), TxPackets: num(9)}
	}
	return out
}
