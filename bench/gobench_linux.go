package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

// benchLine matches a result line of `go test -bench`: the name (with the
// GOMAXPROCS suffix), the iterations, then value-unit pairs.
var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

// goBench runs the benchmarks of pkg matching pattern, as root tests
// (STACK_TEST_ROOT=1), and returns every metric reported, per benchmark
// and unit, one value per -count.
func (b *bench) goBench(pkg, pattern, benchtime string, count int) (map[string]map[string][]float64, error) {
	return b.goBenchIn(b.repo, pkg, pattern, benchtime, count)
}

// goBenchIn is goBench in the source tree dir (the baseline's).
func (b *bench) goBenchIn(dir, pkg, pattern, benchtime string, count int) (map[string]map[string][]float64, error) {
	cmd := exec.CommandContext(b.ctx, "go", "test", "-run", "^$", "-bench", pattern,
		"-benchtime", benchtime, "-count", strconv.Itoa(count), "-timeout", "15m", pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "STACK_TEST_ROOT=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("go test -bench %s %s: %w: %s", pattern, pkg, err, lastLines(string(out), 3))
	}
	res := map[string]map[string][]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		f := strings.Fields(m[2])
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			if res[m[1]] == nil {
				res[m[1]] = map[string][]float64{}
			}
			res[m[1]][f[i+1]] = append(res[m[1]][f[i+1]], v)
		}
	}
	return res, nil
}

// caseNetwork runs the network package's own benchmarks. DNS: A queries
// from 4 clients inside a container to the embedded resolver, against a
// plain miekg server on loopback in the same run. TCP: 1 GiB container to
// container over the bridge and host to a published port, against
// loopback in the same run.
func (b *bench) caseNetwork() error {
	count := b.runs(3, 1)
	res, err := b.goBench("./network/", "^BenchmarkRootDNS$", "20000x", count)
	if err != nil {
		return err
	}
	dns, plain := res["BenchmarkRootDNS/embedded-from-container"], res["BenchmarkRootDNS/plain-miekg-loopback"]
	var base map[string][]float64
	var baseErr error
	if b.baseline != nil {
		var r map[string]map[string][]float64
		if r, baseErr = b.goBenchIn(b.baseline.dir, "./network/", "^BenchmarkRootDNS$", "20000x", count); baseErr == nil {
			base = r["BenchmarkRootDNS/embedded-from-container"]
		}
	}
	for _, m := range []struct{ unit, label string }{{"p50-us", "p50"}, {"p99-us", "p99"}, {"qps", "queries/s"}} {
		unit := "µs"
		if m.unit == "qps" {
			unit = "q/s"
		}
		st := sample{vals: dns[m.unit], unit: unit}
		name := "4. DNS " + m.label + ", from a container (4 clients)"
		b.rows = append(b.rows, row{name: name, stack: st, peer: "plain resolver on loopback", other: sample{vals: plain[m.unit], unit: unit}})
		if b.baseline != nil {
			b.rows = append(b.rows, b.baselineRow(name, st, "", func() (sample, error) { return sample{vals: base[m.unit], unit: unit}, baseErr }))
		}
	}
	if res, err = b.goBench("./network/", "^BenchmarkRootThroughput$", "1x", count); err != nil {
		return err
	}
	tp := res["BenchmarkRootThroughput"]
	b.rows = append(b.rows,
		row{name: "5. TCP container → container (bridge)", stack: sample{vals: tp["bridge-MB/s"], unit: "MB/s"},
			peer: "loopback", other: sample{vals: tp["loopback-MB/s"], unit: "MB/s"}},
		row{name: "5. TCP host → published port (DNAT)", stack: sample{vals: tp["published-MB/s"], unit: "MB/s"},
			peer: "loopback", other: sample{vals: tp["loopback-MB/s"], unit: "MB/s"}},
	)
	return nil
}
