package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// With -baseline REV the bench also measures stack as it was at REV, a
// peer like the others: its source (git archive) built in the scratch
// directory, its own daemon on its own state root, socket, nftables table
// and cgroup parent, driving the same stack files; and its network
// package's DNS benchmark run in its tree. So a change's cost or gain is
// measured in one run, on one machine, against what came before.

// baseline is the stack of -baseline.
type baseline struct {
	rev  string // as given
	id   string // the commit, short
	dir  string // its source tree
	bin  string // its stack binary
	env  []string
	root string // its state root
	// projects are those it may hold containers of.
	projects map[string]string // name -> stack file
}

func (b *bench) prepareBaseline() error {
	rev := b.o.baseline
	out, err := runCmd(b.ctx, nil, "git", "-C", b.repo, "rev-parse", "--short", rev+"^{commit}")
	if err != nil {
		return fmt.Errorf("baseline %s: %w", rev, err)
	}
	bl := &baseline{rev: rev, id: strings.TrimSpace(out), dir: filepath.Join(b.tmp, "baseline-src")}
	if err := os.MkdirAll(bl.dir, 0o755); err != nil {
		return err
	}
	archive := exec.CommandContext(b.ctx, "git", "-C", b.repo, "archive", bl.id)
	untar := exec.CommandContext(b.ctx, "tar", "-x", "-C", bl.dir)
	var errOut bytes.Buffer
	untar.Stdin, _ = archive.StdoutPipe()
	archive.Stderr, untar.Stderr = &errOut, &errOut
	if err := untar.Start(); err != nil {
		return err
	}
	if err := archive.Run(); err != nil {
		return fmt.Errorf("git archive %s: %w: %s", bl.id, err, errOut.String())
	}
	if err := untar.Wait(); err != nil {
		return fmt.Errorf("unpack %s: %w: %s", bl.id, err, errOut.String())
	}
	binDir := filepath.Join(b.tmp, "baseline-bin")
	bl.bin = filepath.Join(binDir, "stack")
	for _, pkg := range []string{"stack", "stack-daemon", "stack-shim", "stack-init"} {
		src := pkg
		if pkg == "stack-daemon" {
			src = "stack" // with -tags stackdaemon
			if _, err := os.Stat(filepath.Join(bl.dir, "cmd", "stack", "commands_daemon_linux.go")); err != nil {
				continue // a revision whose daemon runs in stack
			}
		}
		if _, err := os.Stat(filepath.Join(bl.dir, "cmd", src)); err != nil {
			continue // a revision before stack-shim or stack-init
		}
		args := []string{"build"}
		switch pkg {
		case "stack-init":
			args = append(args, "-tags", "stackinit")
		case "stack-daemon":
			args = append(args, "-tags", "stackdaemon")
		}
		args = append(args, "-o", filepath.Join(binDir, pkg), "./cmd/"+src)
		cmd := exec.CommandContext(b.ctx, "go", args...)
		cmd.Dir = bl.dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("baseline %s: go build %s: %w: %s", bl.id, pkg, err, bytes.TrimSpace(out))
		}
	}
	bl.root = filepath.Join(b.tmp, "baseline-state")
	bl.env = append(os.Environ(),
		"STACK_HOST=unix://"+filepath.Join(b.tmp, "baseline.sock"),
		"STACK_STATE_ROOT="+bl.root,
		"STACK_NFT_TABLE=stackbenchb",
		"STACK_CGROUP_PARENT="+cgroupParent+"/baseline",
		"BENCH_IMAGE=busybox",
	)
	b.baseline = bl
	b.atExit(b.stopBaseline)
	if _, err := runCmd(b.ctx, bl.env, bl.bin, "image", "import", "--rootfs", b.rootfs, "busybox"); err != nil {
		return fmt.Errorf("baseline %s: %w", bl.id, err)
	}
	logf("baseline: stack at %s (%s)", rev, bl.id)
	return nil
}

// baselineEngine drives the baseline's stack like stackEngine drives ours.
func (b *bench) baselineEngine() engine {
	bl := b.baseline
	return engine{
		name: "stack " + bl.id,
		up: func(p, f string) error {
			if bl.projects == nil {
				bl.projects = map[string]string{}
			}
			bl.projects[p] = f
			_, err := runCmd(b.ctx, bl.env, bl.bin, "-p", p, "-f", f, "up", "-d")
			return err
		},
		down: func(p, f string) error {
			_, err := runCmd(b.ctx, bl.env, bl.bin, "-p", p, "-f", f, "down", "-t", "1")
			return err
		},
	}
}

// stopBaseline stops the baseline's daemon and removes its table.
func (b *bench) stopBaseline() {
	bl := b.baseline
	for p, f := range bl.projects {
		runCmd(context.Background(), bl.env, bl.bin, "-p", p, "-f", f, "down", "-t", "0")
	}
	stopDaemon(bl.root, "stackbenchb")
}

// baselineRow is the row of a case against the baseline, stack's sample
// being st; measure gives the baseline's sample.
func (b *bench) baselineRow(name string, st sample, suffix string, measure func() (sample, error)) row {
	r := row{name: name, stack: st, suffix: suffix, peer: "stack " + b.baseline.id + " (-baseline " + b.baseline.rev + ")"}
	var err error
	if r.other, err = measure(); err != nil {
		r.skip = oneLine(err.Error())
	}
	return r
}

// stopDaemon stops the daemon whose state root is root (SIGTERM, then
// SIGKILL after 5 s) and deletes its nftables table.
func stopDaemon(root, table string) {
	if data, err := os.ReadFile(filepath.Join(root, "daemon.pid")); err == nil {
		var pid int
		fmt.Sscan(string(data), &pid)
		if pid > 0 {
			syscall.Kill(pid, syscall.SIGTERM)
			for i := 0; i < 500 && syscall.Kill(pid, 0) == nil; i++ {
				time.Sleep(10 * time.Millisecond)
			}
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	for _, fam := range []string{"inet", "ip", "ip6"} {
		exec.CommandContext(context.Background(), "nft", "delete", "table", fam, table).Run()
	}
}
