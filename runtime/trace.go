package runtime

import "time"

// Tracing a container's creation, start, wait and removal, phase by
// phase, across the processes that do it (the Manager, the shim, the
// init): each marks the moments it sees, and the shim and the init send
// theirs back with their replies. Only a Manager with Options.Trace asks
// for it; it costs a clock read per phase.

// tracePoint is one moment of a trace: a phase that has just ended, and
// when (wall-clock nanoseconds, which every process of the host shares).
type tracePoint struct {
	Phase string `json:"p"`
	At    int64  `json:"t"`
}

// trace collects the points of one process; the zero value, and a nil
// one, collect nothing.
type trace struct {
	on     bool
	points []tracePoint
}

func (t *trace) mark(phase string) {
	if t != nil && t.on {
		t.points = append(t.points, tracePoint{phase, time.Now().UnixNano()})
	}
}

// take returns the points so far and forgets them.
func (t *trace) take() []tracePoint {
	if t == nil {
		return nil
	}
	p := t.points
	t.points = nil
	return p
}
