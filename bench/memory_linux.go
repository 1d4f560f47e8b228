package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// memContainers is how many sleeping containers each engine runs while
// its per-container helpers are measured.
const memContainers = 10

// procKiB returns the value of key (in KiB) in /proc/pid/<file>.
func procKiB(pid int, file, key string) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, file))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == key+":" {
			v, _ := strconv.ParseFloat(f[1], 64)
			return v
		}
	}
	return 0
}

// memSamples returns the VmRSS and the Pss (shared pages divided among
// the processes sharing them) of each pid, in MiB.
func memSamples(pids []int) (rss, pss sample) {
	rss, pss = sample{unit: "MiB"}, sample{unit: "MiB"}
	for _, p := range pids {
		rss.vals = append(rss.vals, procKiB(p, "status", "VmRSS")/1024)
		pss.vals = append(pss.vals, procKiB(p, "smaps_rollup", "Pss")/1024)
	}
	return rss, pss
}

// stackShims finds the shims of our daemon's containers: processes running
// our stack binary other than the daemon (no CLI runs at that moment).
func (b *bench) stackShims() []int {
	daemon := b.daemonPid()
	var pids []int
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, _ := strconv.Atoi(filepath.Base(d))
		if exe, err := os.Readlink(d + "/exe"); err == nil && exe == b.stackBin && pid != daemon {
			pids = append(pids, pid)
		}
	}
	return pids
}

// caseMemory: resident memory per running container of everything ours
// (the shim; the container's own process is the user's) against podman's
// conmon, with memContainers sleeping containers each; and the daemon's,
// idle and with the containers (podman has no daemon).
func (b *bench) caseMemory() error {
	idle := sample{unit: "MiB", vals: []float64{procKiB(b.daemonPid(), "status", "VmRSS") / 1024}}
	project := "stackbenchmem"
	file := b.serviceFile(project, memContainers)
	e := b.stackEngine()
	if err := e.up(project, file); err != nil {
		return err
	}
	defer e.down(project, file)
	time.Sleep(time.Second) // let the shims settle after start-up
	shims := b.stackShims()
	if len(shims) != memContainers {
		return fmt.Errorf("found %d shims for %d containers", len(shims), memContainers)
	}
	srss, spss := memSamples(shims)
	busy := sample{unit: "MiB", vals: []float64{procKiB(b.daemonPid(), "status", "VmRSS") / 1024}}

	rssRow := row{name: "6. RSS per running container (shim vs conmon)", stack: srss, peer: "podman: conmon"}
	pssRow := row{name: "6. Pss per running container (shim vs conmon)", stack: spss, peer: "podman: conmon"}
	if err := b.peerErr["podman"]; err != nil {
		rssRow.skip, pssRow.skip = oneLine(err.Error()), oneLine(err.Error())
	} else if rssRow.other, pssRow.other, err = b.conmonMemory(); err != nil {
		rssRow.skip, pssRow.skip = oneLine(err.Error()), oneLine(err.Error())
	}
	b.rows = append(b.rows, rssRow, pssRow,
		row{name: "6. daemon RSS, idle (after image import)", stack: idle, peer: "(podman has no daemon)"},
		row{name: fmt.Sprintf("6. daemon RSS, %d containers running", memContainers), stack: busy, peer: "(podman has no daemon)"},
	)
	return nil
}

// conmonMemory starts memContainers sleeping podman containers and
// measures their conmons; the containers are removed before it returns.
func (b *bench) conmonMemory() (rss, pss sample, err error) {
	var names []string
	defer func() {
		if len(names) > 0 {
			b.podman(append([]string{"rm", "-f", "-t", "0"}, names...)...)
		}
	}()
	for i := 0; i < memContainers; i++ {
		name := fmt.Sprintf("stackbench-mem-%d", i)
		if _, err := b.podman("run", "-d", "--name", name, podmanImage, "sleep", "3600"); err != nil {
			return rss, pss, err
		}
		names = append(names, name)
	}
	time.Sleep(time.Second)
	var pids []int
	for _, n := range names {
		out, err := b.podman("inspect", "-f", "{{.State.ConmonPid}}", n)
		if err != nil {
			return rss, pss, err
		}
		pid, err := strconv.Atoi(strings.TrimSpace(out))
		if err != nil {
			return rss, pss, fmt.Errorf("conmon pid of %s: %w", n, err)
		}
		pids = append(pids, pid)
	}
	rss, pss = memSamples(pids)
	return rss, pss, nil
}
