package main

import (
	"slices"
	"sync"
	"time"
)

// phaseTracer collects the runtime's trace (runtime.Options.Trace) of the
// containers a case asks it to, and turns each into the time of each
// phase: from the end of the previous one to the end of this one, in the
// order of the moments. A phase is named by what ended it ("init: mounts":
// the init's mounts, from when it had its config).
type phaseTracer struct {
	mu     sync.Mutex
	open   map[string][]point // by container id, while traced
	took   map[string]*sample // by phase
	order  []string           // phases in the order first seen
	orders map[string]float64 // phase -> mean position, to sort
}

type point struct {
	phase string
	at    time.Time
}

type phaseTime struct {
	name string
	took sample
}

func newPhaseTracer() *phaseTracer {
	return &phaseTracer{open: map[string][]point{}, took: map[string]*sample{}, orders: map[string]float64{}}
}

// begin starts the trace of id, when on: its first moment is now.
func (t *phaseTracer) begin(id string, on bool) {
	if !on {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.open[id] = []point{{"bench: Create called", time.Now()}}
}

// record is the runtime's Trace.
func (t *phaseTracer) record(id, phase string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if pts, ok := t.open[id]; ok {
		t.open[id] = append(pts, point{phase, at})
	}
}

// end closes the trace of id and adds its phases.
func (t *phaseTracer) end(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	pts, ok := t.open[id]
	if !ok {
		return
	}
	delete(t.open, id)
	slices.SortStableFunc(pts, func(a, b point) int { return a.at.Compare(b.at) })
	for i := 1; i < len(pts); i++ {
		name := pts[i].phase
		s := t.took[name]
		if s == nil {
			s = &sample{unit: "ms"}
			t.took[name] = s
			t.order = append(t.order, name)
		}
		s.vals = append(s.vals, float64(pts[i].at.Sub(pts[i-1].at).Microseconds())/1000)
		t.orders[name] += float64(i)
	}
}

// phases returns every phase's times, in the order they happen.
func (t *phaseTracer) phases() []phaseTime {
	t.mu.Lock()
	defer t.mu.Unlock()
	names := slices.Clone(t.order)
	pos := func(n string) float64 { return t.orders[n] / float64(len(t.took[n].vals)) }
	slices.SortStableFunc(names, func(a, b string) int {
		switch pa, pb := pos(a), pos(b); {
		case pa < pb:
			return -1
		case pa > pb:
			return 1
		}
		return 0
	})
	var out []phaseTime
	for _, n := range names {
		out = append(out, phaseTime{n, *t.took[n]})
	}
	return out
}
