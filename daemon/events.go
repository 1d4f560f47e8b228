package daemon

import (
	"sync"
	"time"

	"github.com/stack-dev/stack/api"
)

// eventBus fans events out to subscribers (`stack events`, a running up).
// A subscriber that cannot keep up loses events rather than slowing the
// engine down.
type eventBus struct {
	mu   sync.Mutex
	subs map[chan api.Event]string // channel -> project filter ("" = all)
}

func newEventBus() *eventBus { return &eventBus{subs: map[chan api.Event]string{}} }

// publish stamps ev with the time and sends it to every matching
// subscriber.
func (b *eventBus) publish(ev api.Event) {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
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
