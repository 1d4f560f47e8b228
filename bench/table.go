package main

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// sample is a set of measurements of one thing, in unit.
type sample struct {
	vals []float64
	unit string
}

func (s sample) ok() bool { return len(s.vals) > 0 }

func (s sample) median() float64 {
	v := slices.Clone(s.vals)
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

func (s sample) min() float64 { return slices.Min(s.vals) }
func (s sample) max() float64 { return slices.Max(s.vals) }

// row is one line of the results table. A peer that did not run has a
// skip reason instead of a sample; a row with no peer at all (the idle
// daemon, say) leaves peer empty.
type row struct {
	name   string
	stack  sample
	peer   string
	other  sample
	skip   string // why the peer (or stack, if stack has no sample) did not run
	suffix string // appended to the stack median, e.g. a per-service figure
	// otherSuffix is appended to the peer's median.
	otherSuffix string
}

func num(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1000:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func (s sample) cell() string {
	if !s.ok() {
		return "-"
	}
	return num(s.median()) + " " + s.unit
}

func (s sample) spread() string {
	if len(s.vals) < 2 {
		return "-"
	}
	return num(s.min()) + "–" + num(s.max())
}

// markdown renders rows as the results table. The ratio is stack's median
// over the peer's: below 1 means stack took less time or memory, and for
// rates (MB/s, qps) above 1 means stack did more.
func markdown(rows []row) string {
	var b strings.Builder
	b.WriteString("| case | stack median | peer | peer median | ratio stack/peer | runs stack/peer | min–max stack / peer |\n")
	b.WriteString("|---|---:|---|---:|---:|---:|---|\n")
	for _, r := range rows {
		stack := r.stack.cell() + r.suffix
		peer, other, ratio := r.peer, r.other.cell()+r.otherSuffix, "-"
		if r.skip != "" {
			if r.peer == "" {
				stack = "skipped: " + r.skip
			} else {
				peer, other = r.peer+" (skipped: "+r.skip+")", "-"
			}
		}
		if r.stack.ok() && r.other.ok() && r.other.median() != 0 {
			ratio = fmt.Sprintf("%.2f", r.stack.median()/r.other.median())
		}
		if peer == "" {
			peer = "-"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %d/%d | %s / %s |\n",
			r.name, stack, peer, other, ratio, len(r.stack.vals), len(r.other.vals), r.stack.spread(), r.other.spread())
	}
	return b.String()
}
