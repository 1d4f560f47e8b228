package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// hasBuild reports whether this stack binary has a build subcommand; it
// is being added, and until then case 7's rebuild row says so.
func (b *bench) hasBuild() bool {
	out, err := runCmd(b.ctx, b.stackEnv, b.stackBin, "build", "--help")
	return err == nil && strings.Contains(out, "build")
}

// caseImage: a fully cached rebuild (stack build vs podman build of the
// same Dockerfile on the same base), then the image package's layer
// unpack benchmark, which runs tar -x on the same layer as reference.
func (b *bench) caseImage() error {
	r := row{name: "7. fully cached image rebuild", peer: "podman build"}
	if !b.hasBuild() {
		r.skip = "not built yet (stack has no build command)"
	} else if err := b.cachedRebuild(&r); err != nil {
		r.skip = oneLine(err.Error())
	}
	b.rows = append(b.rows, r)

	res, err := b.goBench("./image/", "^BenchmarkUnpackLayer$", "2x", b.runs(3, 1))
	if err != nil {
		return err
	}
	b.rows = append(b.rows, row{
		name:  "7. layer unpack, 200 MB uncompressed tar",
		stack: sample{vals: res["BenchmarkUnpackLayer/stack"]["MB/s"], unit: "MB/s"},
		peer:  "tar -x", other: sample{vals: res["BenchmarkUnpackLayer/tar-x"]["MB/s"], unit: "MB/s"},
	})
	return nil
}

// cachedRebuild builds a two-step Dockerfile once with each engine, then
// times rebuilds that every step of which should come from the cache.
func (b *bench) cachedRebuild(r *row) error {
	dir := filepath.Join(b.tmp, "build")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("build context: %w", err)
	}
	steps := "RUN echo built > /built\nCOPY stack.yaml /stack.yaml\n"
	files := map[string]string{
		"Dockerfile":        "FROM busybox\n" + steps,
		"Dockerfile.podman": "FROM " + podmanImage + "\n" + steps,
		"stack.yaml":        "services:\n  app:\n    build: .\n    image: stackbench-build\n    command: [\"true\"]\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return fmt.Errorf("build context: %w", err)
		}
	}
	file := filepath.Join(dir, "stack.yaml")
	var err error
	r.stack, err = b.measure(1, b.runs(10, 3), func(int) error {
		_, err := b.stack("-p", "stackbenchbuild", "-f", file, "build")
		return err
	})
	if err != nil {
		return fmt.Errorf("stack build: %w", err)
	}
	if err := b.peerErr["podman"]; err != nil {
		return err
	}
	r.other, err = b.measure(1, b.runs(10, 3), func(int) error {
		_, err := b.podman("build", "-q", "-f", filepath.Join(dir, "Dockerfile.podman"), "-t", "localhost/stackbench-build:latest", dir)
		return err
	})
	return err
}

// report renders the results with what is needed to compare two runs:
// date, machine, commit and versions.
func (b *bench) report(took time.Duration) string {
	var s strings.Builder
	mode := "full"
	if b.o.quick {
		mode = "-quick"
	}
	fmt.Fprintf(&s, "# stack vs peers\n\n")
	fmt.Fprintf(&s, "`go run ./bench` (%s run, %s), %s.\n\n", mode, took.Round(time.Second), time.Now().UTC().Format("2006-01-02 15:04 MST"))
	for _, l := range b.machine() {
		fmt.Fprintf(&s, "- %s\n", l)
	}
	s.WriteString("\n")
	s.WriteString(markdown(b.rows))
	s.WriteString(`
Wall times are medians; every engine is timed by this program the same way
(stack's runtime in-process, everything else as one command per step).
The ratio is stack's median over the peer's: below 1 stack took less time
or memory; for rates (MB/s, q/s) above 1 stack did more. Case 2 and 8 time
podman-compose's down together with ` + "`podman network rm`" + `, since
podman-compose 1.0.3 leaves the network and stack's down removes its own;
podman-compose 1.0.3 also sleeps 1 s after each ` + "`podman run`" + ` in up.
Cases 4, 5 and the unpack row of 7 are the network and image packages' Go
benchmarks (` + "`go test -bench`" + `), one value per -count.
The shape rows of case 8 run 10, 50 and 100 services round by round on
one daemon, first with its state root on this machine's root ext4, which
has no journal, then on a journaled ext4 (mkfs.ext4's default) that the
bench makes in a file and mounts on a loop device. Without a journal
ext4 does not hand out an inode freed in the last minute (six while its
inode table block is unwritten) and walks past every one of them in the
group of the directory it creates in, so an engine whose containers all
share a group costs more per container the more containers came and went
before; stack marks the directories that hold one directory per
container chattr +T, so that ext4 spreads them over its groups. The
order of the sizes is reversed every other round, so that no size always
follows the larger ones. The rows of cases 2 and 8 on this machine's
file system still depend somewhat on what ran before them (the
baseline's come after docker-compose's); the journaled rows show stack's
own shape.
`)
	return s.String()
}
