package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// How up -d grows with the stack depends on the file system under the
// state root as much as on stack. Without a journal, ext4 does not reuse
// an inode freed in the last 60 s, or 6 min while its inode table block is
// unwritten (recently_deleted in fs/ext4/ialloc.c): every inode it
// allocates first walks past all those freed before it in its group, so
// where every container's files share a group each container created after
// many have come and gone costs more than the one before (stack's state
// root spreads them: see linux.SpreadSubdirs). This machine's root ext4
// has no journal; mkfs.ext4's default, and what most hosts run, has one.
// So the curve is measured on both: the scratch directory (the root ext4)
// and a journaled ext4 the bench makes in a file and mounts on a loop
// device.

// journaledStack is a second stack daemon whose state root is on a fresh
// journaled ext4.
type journaledStack struct {
	image string // the file system's backing file
	mnt   string // where it is mounted
	env   []string
	root  string
	// projects are those it may hold containers of.
	projects map[string]string // name -> stack file
}

// prepareJournaled makes the file system, mounts it and imports busybox
// into a daemon of its own (socket, nftables table, cgroup parent).
func (b *bench) prepareJournaled() (*journaledStack, error) {
	j := &journaledStack{
		image:    filepath.Join(b.tmp, "ext4-journal.img"),
		mnt:      filepath.Join(b.tmp, "ext4-journal"),
		projects: map[string]string{},
	}
	if err := os.MkdirAll(j.mnt, 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(j.image)
	if err != nil {
		return nil, err
	}
	err = f.Truncate(4 << 30) // sparse: what is written is what it takes
	f.Close()
	if err != nil {
		return nil, err
	}
	if _, err := runCmd(b.ctx, nil, "mkfs.ext4", "-q", "-F", j.image); err != nil {
		return nil, fmt.Errorf("journaled ext4 (apt-get install e2fsprogs): %w", err)
	}
	if _, err := runCmd(b.ctx, nil, "mount", "-o", "loop", j.image, j.mnt); err != nil {
		return nil, fmt.Errorf("journaled ext4: %w", err)
	}
	b.atExit(func() { b.stopJournaled(j) })
	if out, err := runCmd(b.ctx, nil, "findmnt", "-n", "-o", "FSTYPE,OPTIONS", j.mnt); err != nil || !strings.HasPrefix(out, "ext4") {
		return nil, fmt.Errorf("journaled ext4: %s is not an ext4 mount: %q %v", j.mnt, out, err)
	}
	j.root = filepath.Join(j.mnt, "state")
	j.env = append(os.Environ(),
		"STACK_HOST=unix://"+filepath.Join(b.tmp, "journal.sock"),
		"STACK_STATE_ROOT="+j.root,
		"STACK_NFT_TABLE=stackbenchj",
		"STACK_CGROUP_PARENT="+cgroupParent+"/journal",
		"BENCH_IMAGE=busybox",
	)
	if _, err := runCmd(b.ctx, j.env, b.stackBin, "image", "import", "--rootfs", b.rootfs, "busybox"); err != nil {
		return nil, fmt.Errorf("journaled ext4: %w", err)
	}
	return j, nil
}

func (b *bench) journaledEngine(j *journaledStack) engine {
	return engine{
		name: "stack on a journaled ext4",
		up: func(p, f string) error {
			j.projects[p] = f
			_, err := runCmd(b.ctx, j.env, b.stackBin, "-p", p, "-f", f, "up", "-d")
			return err
		},
		down: func(p, f string) error {
			_, err := runCmd(b.ctx, j.env, b.stackBin, "-p", p, "-f", f, "down", "-t", "1")
			return err
		},
	}
}

// stopJournaled takes its projects down, stops its daemon, removes its
// table and unmounts the file system, detaching the loop device.
func (b *bench) stopJournaled(j *journaledStack) {
	ctx := context.Background()
	for p, f := range j.projects {
		runCmd(ctx, j.env, b.stackBin, "-p", p, "-f", f, "down", "-t", "0")
	}
	stopDaemon(j.root, "stackbenchj")
	runCmd(ctx, nil, "umount", "-d", j.mnt)
	os.Remove(j.image)
}

// upCurve times up -d alone of each size with e, round by round so that
// every size sees the same history of the file system, the order of the
// sizes reversed every other round so that none always comes after the
// larger ones; the first round is a warm-up. It returns the samples by
// size.
func (b *bench) upCurve(e engine, sizes []int, rounds int) (map[int]sample, error) {
	ups := map[int]sample{}
	for round := 0; round < rounds+1; round++ {
		order := slices.Clone(sizes)
		if round%2 == 1 {
			slices.Reverse(order)
		}
		for _, n := range order {
			up, _, _, err := b.upDown(e, n, 1, false)
			if err != nil {
				return nil, fmt.Errorf("%s, %d services: %w", e.name, n, err)
			}
			if round > 0 {
				s := ups[n]
				s.unit = up.unit
				s.vals = append(s.vals, up.vals...)
				ups[n] = s
			}
		}
	}
	return ups, nil
}

// perService divides every value of s by n.
func perService(s sample, n int) sample {
	p := sample{unit: s.unit}
	for _, v := range s.vals {
		p.vals = append(p.vals, v/float64(n))
	}
	return p
}

// flatRows are the rows of the curve's shape: up -d per service at each
// size against per service at the first size, on one file system.
func flatRows(fs string, sizes []int, ups map[int]sample) []row {
	var rows []row
	first, ok := ups[sizes[0]]
	if !ok {
		return nil
	}
	for _, n := range sizes[1:] {
		st, ok := ups[n]
		if !ok {
			continue
		}
		rows = append(rows, row{
			name:  fmt.Sprintf("8. up -d per service, %d services, %s", n, fs),
			stack: perService(st, n),
			peer:  fmt.Sprintf("stack, %d services, same file system", sizes[0]),
			other: perService(first, sizes[0]),
		})
	}
	return rows
}
