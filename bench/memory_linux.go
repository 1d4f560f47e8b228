package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// memCounts are how many sleeping containers each engine runs while its
// per-container processes are measured: the marginal cost is the growth
// from the first count to the last, divided by the difference.
var memCounts = []int{10, 50}

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

// daemonMemory is a daemon's RSS and its anonymous part, MiB.
type daemonMemory struct{ rss, anon sample }

// memTotals returns the summed VmRSS and Pss of pids, in MiB. Pss divides
// each shared page among the processes sharing it, so the sum counts it
// once; VmRSS counts it in every process.
func memTotals(pids []int) (rss, pss float64) {
	for _, p := range pids {
		rss += procKiB(p, "status", "VmRSS") / 1024
		pss += procKiB(p, "smaps_rollup", "Pss") / 1024
	}
	return rss, pss
}

// stackShims finds the shims of our daemon's group: processes running
// the stack-shim binary the bench built (the containers' own processes
// run theirs) whose directory is the group's, <root>/.shims/<group>.
func (b *bench) stackShims(group string) []int {
	var pids []int
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, _ := strconv.Atoi(filepath.Base(d))
		if exe, err := os.Readlink(d + "/exe"); err != nil || exe != b.shimBin() {
			continue
		}
		env, _ := os.ReadFile(d + "/environ")
		for _, kv := range bytes.Split(env, []byte{0}) {
			if dir, ok := bytes.CutPrefix(kv, []byte("_STACK_STATEDIR=")); ok && filepath.Base(string(dir)) == group {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// memFigures are the memory of one engine's per-container processes at
// each of memCounts.
type memFigures struct {
	rss, pss []float64 // totals, MiB
}

// perContainer returns, as samples, the total per container at count i
// and the marginal cost from the first count to the last.
func (f memFigures) perContainer(i int) (rss, pss sample) {
	n := float64(memCounts[i])
	return sample{unit: "MiB", vals: []float64{f.rss[i] / n}}, sample{unit: "MiB", vals: []float64{f.pss[i] / n}}
}

func (f memFigures) marginal() (rss, pss sample) {
	last := len(memCounts) - 1
	dn := float64(memCounts[last] - memCounts[0])
	return sample{unit: "MiB", vals: []float64{(f.rss[last] - f.rss[0]) / dn}}, sample{unit: "MiB", vals: []float64{(f.pss[last] - f.pss[0]) / dn}}
}

// caseMemory: the memory of everything ours that runs per container (the
// project's shim; the container's own process is the user's) against
// podman's conmons, with 10 and 50 sleeping containers: the total per
// container and the marginal cost of one more; and the daemon's, idle and
// with the containers (podman has no daemon).
func (b *bench) caseMemory() error {
	idle := sample{unit: "MiB", vals: []float64{procKiB(b.daemonPid(), "status", "VmRSS") / 1024}}
	idleAnon := sample{unit: "MiB", vals: []float64{procKiB(b.daemonPid(), "status", "RssAnon") / 1024}}
	var ours memFigures
	var busy sample
	e := b.stackEngine()
	for _, n := range memCounts {
		project := fmt.Sprintf("stackbenchmem%d", n)
		file := b.serviceFile(project, n)
		if err := e.up(project, file); err != nil {
			return err
		}
		time.Sleep(time.Second) // let the shim settle after start-up
		shims := b.stackShims(project)
		if len(shims) != 1 {
			e.down(project, file)
			return fmt.Errorf("found %d shims for a project of %d containers, want one", len(shims), n)
		}
		rss, pss := memTotals(shims)
		ours.rss, ours.pss = append(ours.rss, rss), append(ours.pss, pss)
		busy = sample{unit: "MiB", vals: []float64{procKiB(b.daemonPid(), "status", "VmRSS") / 1024}}
		if err := e.down(project, file); err != nil {
			return err
		}
	}
	var conmon memFigures
	peerErr := b.peerErr["podman"]
	if peerErr == nil {
		conmon, peerErr = b.conmonMemory()
	}
	for i, n := range memCounts {
		srss, spss := ours.perContainer(i)
		rssRow := row{name: fmt.Sprintf("6. RSS per running container, %d containers (shim vs conmon)", n), stack: srss, peer: "podman: conmon"}
		pssRow := row{name: fmt.Sprintf("6. Pss per running container, %d containers (shim vs conmon)", n), stack: spss, peer: "podman: conmon"}
		if peerErr != nil {
			rssRow.skip, pssRow.skip = oneLine(peerErr.Error()), oneLine(peerErr.Error())
		} else {
			rssRow.other, pssRow.other = conmon.perContainer(i)
		}
		b.rows = append(b.rows, rssRow, pssRow)
	}
	dockerFig, dockerIdle, dockerErr := memFigures{}, daemonMemory{}, b.peerErr["docker"]
	if dockerErr == nil {
		dockerFig, dockerIdle, dockerErr = b.dockerMemory()
	}
	for i, n := range memCounts {
		srss, spss := ours.perContainer(i)
		rssRow := row{name: fmt.Sprintf("6. RSS per running container, %d containers (shim vs containerd's)", n), stack: srss, peer: "docker: containerd-shim-runc-v2"}
		pssRow := row{name: fmt.Sprintf("6. Pss per running container, %d containers (shim vs containerd's)", n), stack: spss, peer: "docker: containerd-shim-runc-v2"}
		if dockerErr != nil {
			rssRow.skip, pssRow.skip = oneLine(dockerErr.Error()), oneLine(dockerErr.Error())
		} else {
			rssRow.other, pssRow.other = dockerFig.perContainer(i)
		}
		b.rows = append(b.rows, rssRow, pssRow)
	}
	first, last := memCounts[0], memCounts[len(memCounts)-1]
	srss, spss := ours.marginal()
	rssRow := row{name: fmt.Sprintf("6. marginal RSS of one more container, %d to %d", first, last), stack: srss, peer: "podman: conmon"}
	pssRow := row{name: fmt.Sprintf("6. marginal Pss of one more container, %d to %d", first, last), stack: spss, peer: "podman: conmon"}
	if peerErr != nil {
		rssRow.skip, pssRow.skip = oneLine(peerErr.Error()), oneLine(peerErr.Error())
	} else {
		rssRow.other, pssRow.other = conmon.marginal()
	}
	b.rows = append(b.rows, rssRow, pssRow)
	rssRow = row{name: rssRow.name, stack: srss, peer: "docker: containerd-shim-runc-v2"}
	pssRow = row{name: pssRow.name, stack: spss, peer: "docker: containerd-shim-runc-v2"}
	if dockerErr != nil {
		rssRow.skip, pssRow.skip = oneLine(dockerErr.Error()), oneLine(dockerErr.Error())
	} else {
		rssRow.other, pssRow.other = dockerFig.marginal()
	}
	// The daemon idle: fresh, and after the cases before this one made
	// and removed hundreds of containers; RSS and its anonymous part
	// (the rest is the binary's code and tables, mapped from the page
	// cache). dockerd and containerd are measured idle, before case 6's
	// containers.
	b.rows = append(b.rows, rssRow, pssRow)
	for _, r := range []struct {
		name        string
		stack, peer sample
	}{
		{"6. daemon RSS, idle, fresh (after image import)", b.freshIdle, dockerIdle.rss},
		{"6. daemon RSS, idle, after the earlier cases' containers came and went", idle, dockerIdle.rss},
		{"6. daemon anonymous RSS, idle, fresh (after image import)", b.freshIdleAnon, dockerIdle.anon},
		{"6. daemon anonymous RSS, idle, after the earlier cases' containers came and went", idleAnon, dockerIdle.anon},
	} {
		idleRow := row{name: r.name, stack: r.stack, peer: "docker: dockerd + containerd"}
		if dockerErr != nil {
			idleRow.skip = oneLine(dockerErr.Error())
		} else {
			idleRow.other = r.peer
		}
		b.rows = append(b.rows, idleRow)
	}
	b.rows = append(b.rows,
		row{name: fmt.Sprintf("6. daemon RSS, %d containers running", last), stack: busy, peer: "(podman has no daemon)"},
	)
	return nil
}

// conmonMemory starts memCounts sleeping podman containers in turn and
// measures their conmons; the containers are removed before it returns.
func (b *bench) conmonMemory() (f memFigures, err error) {
	var names []string
	defer func() {
		if len(names) > 0 {
			b.podman(append([]string{"rm", "-f", "-t", "0"}, names...)...)
		}
	}()
	for _, n := range memCounts {
		for i := len(names); i < n; i++ {
			name := fmt.Sprintf("stackbench-mem-%d", i)
			if _, err := b.podman("run", "-d", "--name", name, podmanImage, "sleep", "3600"); err != nil {
				return f, err
			}
			names = append(names, name)
		}
		time.Sleep(time.Second)
		var pids []int
		for _, name := range names {
			out, err := b.podman("inspect", "-f", "{{.State.ConmonPid}}", name)
			if err != nil {
				return f, err
			}
			pid, err := strconv.Atoi(strings.TrimSpace(out))
			if err != nil {
				return f, fmt.Errorf("conmon pid of %s: %w", name, err)
			}
			pids = append(pids, pid)
		}
		rss, pss := memTotals(pids)
		f.rss, f.pss = append(f.rss, rss), append(f.pss, pss)
	}
	return f, nil
}

// logMiB is the size of the log case 10 tails.
const logMiB = 50

// caseLogsTail: `logs --tail 5` of a container whose log holds 50 MiB:
// how much the daemon's resident memory grows meanwhile (its peak, VmHWM,
// reset before), and how far above its idle figure it is once the
// container is removed; against dockerd doing the same for docker logs.
func (b *bench) caseLogsTail() error {
	const line = "0123456789012345678901234567890123456789012345678901234567890123456789"
	script := fmt.Sprintf("yes %s | head -c %d; echo; echo last-line; sleep 3600", line, logMiB<<20)
	project := "stackbenchlogs"
	file := b.writeFile(project, fmt.Sprintf(`services:
  chatty:
    image: ${BENCH_IMAGE}
    command: ["sh", "-c", %q]
    stop_signal: SIGKILL
    logging:
      options:
        max-size: 200m
`, script))
	e := b.stackEngine()
	growth := row{name: fmt.Sprintf("10. logs --tail 5 of a %d MiB log: daemon peak RSS growth", logMiB), peer: "dockerd: docker logs --tail 5"}
	after := row{name: "10. daemon RSS once that container is removed, above its idle RSS", peer: "dockerd"}
	measure := func(daemon int, up func() error, tail func() (string, error), down func() error) (grew, left float64, err error) {
		idle := procKiB(daemon, "status", "VmRSS") / 1024
		if err := up(); err != nil {
			return 0, 0, err
		}
		defer down()
		deadline := time.Now().Add(2 * time.Minute)
		for {
			out, err := tail()
			if err == nil && strings.Contains(out, "last-line") {
				break
			}
			if time.Now().After(deadline) {
				return 0, 0, fmt.Errorf("the log never reached %d MiB: %v", logMiB, err)
			}
			time.Sleep(time.Second)
		}
		time.Sleep(2 * time.Second) // let the heap settle after the polls
		before := procKiB(daemon, "status", "VmRSS") / 1024
		os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", daemon), []byte("5"), 0) // resets VmHWM
		if _, err := tail(); err != nil {
			return 0, 0, err
		}
		grew = procKiB(daemon, "status", "VmHWM")/1024 - before
		if err := down(); err != nil {
			return 0, 0, err
		}
		time.Sleep(3 * time.Second)
		return grew, procKiB(daemon, "status", "VmRSS")/1024 - idle, nil
	}
	g, l, err := measure(b.daemonPid(),
		func() error { return e.up(project, file) },
		func() (string, error) { return b.stack("-p", project, "-f", file, "logs", "--tail", "5", "chatty") },
		func() error { return e.down(project, file) })
	if err != nil {
		return fmt.Errorf("stack: %w", err)
	}
	growth.stack, after.stack = sample{unit: "MiB", vals: []float64{g}}, sample{unit: "MiB", vals: []float64{l}}
	if err := b.peerErr["docker"]; err != nil {
		growth.skip, after.skip = oneLine(err.Error()), oneLine(err.Error())
	} else {
		g, l, err := measure(b.dockerdPid,
			func() error {
				_, err := b.docker("run", "-d", "--network", "none", "--name", "stackbench-logs", "--log-opt", "max-size=200m", dockerImage, "sh", "-c", script)
				return err
			},
			func() (string, error) { return b.docker("logs", "--tail", "5", "stackbench-logs") },
			func() error { _, err := b.docker("rm", "-f", "stackbench-logs"); return err })
		if err != nil {
			growth.skip, after.skip = oneLine(err.Error()), oneLine(err.Error())
		} else {
			growth.other, after.other = sample{unit: "MiB", vals: []float64{g}}, sample{unit: "MiB", vals: []float64{l}}
		}
	}
	b.rows = append(b.rows, growth, after)
	return nil
}
