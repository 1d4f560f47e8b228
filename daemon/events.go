package daemon

import (
	"sync"
	"time"

	"github.com/stack-dev/stack/api"
)

// eventBus fans events out to subscribers (`stack events`, a running up,
// docker events) and keeps the last historySize of them for subscribers
// that ask for what happened since a moment. A subscriber that cannot
// keep up loses events rather than slowing the engine down.
type eventBus struct {
	mu      sync.Mutex
	subs    map[chan api.Event]string // channel -> project filter ("" = all)
	history []api.Event               // a ring of the last historySize
	next    int                       // where the next event goes in history
}

// historySize is how many past events the bus keeps.
const historySize = 256

func newEventBus() *eventBus { return &eventBus{subs: map[chan api.Event]string{}} }

// publish stamps ev with the time and sends it to every matching
// subscriber.
func (b *eventBus) publish(ev api.Event) {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.history) < historySize {
		b.history = append(b.history, ev)
	} else {
		b.history[b.next] = ev
	}
	b.next = (b.next + 1) % historySize
	for ch, project := range b.subs {
		if project != "" && project != ev.Project {
			continue
		}
		select {
		case ch <- ev:
		default:
		}
	}
}

// since returns the kept events at or after t, oldest first. The caller
// holds mu.
func (b *eventBus) since(t time.Time) []api.Event {
	var out []api.Event
	start, n := 0, len(b.history)
	if n == historySize {
		start = b.next // the oldest
	}
	for i := range n {
		ev := b.history[(start+i)%n]
		if !ev.Time.Before(t) {
			out = append(out, ev)
		}
	}
	return out
}

// subscribeSince is subscribe with the kept events at or after t, with
// no event lost or repeated between the two.
func (b *eventBus) subscribeSince(t time.Time) ([]api.Event, <-chan api.Event, func()) {
	ch := make(chan api.Event, 256)
	b.mu.Lock()
	past := b.since(t)
	b.subs[ch] = ""
	b.mu.Unlock()
	return past, ch, func() {
		b.mu.Lock()
		delete(b.subs, ch)
		b.mu.Unlock()
	}
}

// subscribe returns a channel of the events of project (all when "") and
// a function that ends the subscription.
func (b *eventBus) subscribe(project string) (<-chan api.Event, func()) {
	ch := make(chan api.Event, 256)
	b.mu.Lock()
	b.subs[ch] = project
	b.mu.Unlock()
	return ch, func() {
		b.mu.Lock()
		delete(b.subs, ch)
		b.mu.Unlock()
	}
}

// emitFunc receives the events of one operation as they happen.
type emitFunc = func(api.Event)

// projectEmitter returns the emitFunc of an operation on project: each
// event goes on the bus and to emit, the operation's own stream.
func projectEmitter(bus *eventBus, project string, emit emitFunc) emitFunc {
	return func(e api.Event) {
		if e.Project == "" {
			e.Project = project
		}
		bus.publish(e)
		emit(e)
	}
}

// containerEvent is the event of action on the container of r.
func containerEvent(r *record, action, msg string) api.Event {
	return api.Event{Type: api.TypeContainer, Project: r.Project, Service: r.Service, Container: r.Name, ID: r.ID,
		Image: r.Image, Labels: r.Labels, Action: action, Message: msg}
}

// networkEvent is the event of action on network name.
func networkEvent(name string, labels map[string]string, action, msg string) api.Event {
	return api.Event{Type: api.TypeNetwork, Network: name, ID: networkID(name), Labels: labels, Action: action, Message: msg}
}
