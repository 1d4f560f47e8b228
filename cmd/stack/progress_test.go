package main

import (
	"bytes"
	"flag"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/internal/testutil"
)

var update = flag.Bool("update", false, "update testdata/*.golden files")

// upEvents are the events of an up of two services that builds one
// image, as the daemon and the CLI's builds send them, each after the
// time given.
var upEvents = []struct {
	after time.Duration
	ev    api.Event
	build string // a line of build output instead of an event
}{
	{0, api.Event{Action: "build", Service: "php"}, ""},
	{300 * time.Millisecond, api.Event{}, "#1 [php 1/2] FROM debian:bookworm"},
	{200 * time.Millisecond, api.Event{}, "#2 [php 2/2] RUN apt-get install -y php-fpm"},
	{2500 * time.Millisecond, api.Event{Action: "built", Service: "php"}, ""},
	{100 * time.Millisecond, api.Event{Type: api.TypeNetwork, Action: api.ActionNetworkCreate, Network: "demo_default", Message: "10.89.0.0/24"}, ""},
	{0, api.Event{Action: "creating", Container: "demo-db-1"}, ""},
	{400 * time.Millisecond, api.Event{Action: "create", Container: "demo-db-1"}, ""},
	{0, api.Event{Action: "starting", Container: "demo-db-1"}, ""},
	{200 * time.Millisecond, api.Event{Action: "start", Container: "demo-db-1"}, ""},
	{0, api.Event{Action: "waiting", Container: "demo-db-1"}, ""},
	{1500 * time.Millisecond, api.Event{Action: "healthy", Container: "demo-db-1"}, ""},
	{0, api.Event{Action: "creating", Container: "demo-php-1"}, ""},
	{300 * time.Millisecond, api.Event{Action: "create", Container: "demo-php-1"}, ""},
	{0, api.Event{Action: "starting", Container: "demo-php-1"}, ""},
	{100 * time.Millisecond, api.Event{Action: "start", Container: "demo-php-1"}, ""},
	{0, api.Event{Action: "warning", Message: "service php: memory limit not applied"}, ""},
}

// play sends upEvents to a progress, moving the clock.
func play(pr progress, clock *time.Time) {
	for _, e := range upEvents {
		*clock = clock.Add(e.after)
		switch {
		case e.build != "":
			pr.Output("Service php", e.build)
		case e.ev.Action == "warning":
			pr.Warn(e.ev.Message)
		default:
			if pe, ok := progressOf(e.ev); ok {
				pr.Event(pe)
			}
		}
	}
	pr.Done()
}

// showEscapes makes a terminal's control sequences readable in a golden
// file.
func showEscapes(b []byte) []byte {
	return bytes.ReplaceAll(b, []byte("\x1b"), []byte(`\e`))
}

func TestProgressGolden(t *testing.T) {
	for _, c := range []struct {
		name string
		make func(w *bytes.Buffer, clock *time.Time) progress
	}{
		{"plain", func(w *bytes.Buffer, _ *time.Time) progress { return &plainProgress{w: w} }},
		{"json", func(w *bytes.Buffer, _ *time.Time) progress { return &jsonProgress{w: w} }},
		{"tty", func(w *bytes.Buffer, clock *time.Time) progress {
			return newTTYProgress(w, "Running", false, func() time.Time { return *clock }, func() (int, int) { return 72, 24 })
		}},
		{"tty-color", func(w *bytes.Buffer, clock *time.Time) progress {
			return newTTYProgress(w, "Running", true, func() time.Time { return *clock }, func() (int, int) { return 72, 24 })
		}},
		// A terminal too short for every resource shows how many more
		// there are.
		{"tty-short", func(w *bytes.Buffer, clock *time.Time) progress {
			return newTTYProgress(w, "Running", false, func() time.Time { return *clock }, func() (int, int) { return 60, 4 })
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			play(c.make(&out, &clock), &clock)
			testutil.Golden(t, filepath.Join("testdata", "progress-"+c.name+".golden"), showEscapes(out.Bytes()), *update)
		})
	}
}

// The last frame of the terminal display is the summary: every resource
// done, with the time it took.
func TestProgressTTYSummary(t *testing.T) {
	var out bytes.Buffer
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := newTTYProgress(&out, "Running", false, func() time.Time { return clock }, func() (int, int) { return 72, 24 })
	play(p, &clock)
	frame := p.frame()
	want := []string{
		"[+] Running 4/4",
		" ✔ Service php          Built  ",
		" ✔ Network demo_default  Created",
		" ✔ Container demo-db-1   Healthy",
		" ✔ Container demo-php-1  Started",
	}
	if len(frame) != len(want) {
		t.Fatalf("frame:\n%s", strings.Join(frame, "\n"))
	}
	for i, w := range want {
		got := strings.Fields(frame[i])
		if i > 0 {
			got = got[:len(got)-1] // the timer
		}
		if strings.Join(got, " ") != strings.Join(strings.Fields(w), " ") {
			t.Errorf("line %d = %q, want %q and a timer", i, frame[i], w)
		}
	}
	if !strings.HasSuffix(frame[3], "2.1s") || !strings.HasSuffix(frame[1], "3.0s") {
		t.Errorf("timers: db %q, php build %q; want 2.1s and 3.0s", frame[3], frame[1])
	}
}

// progressOf names a network, volume or image by the event's field for
// it, never by the words of Message.
func TestProgressOfTypedEvents(t *testing.T) {
	for _, c := range []struct {
		name string
		ev   api.Event
		want progressEvent
		ok   bool
	}{
		{"network field", api.Event{Type: api.TypeNetwork, Action: api.ActionNetworkCreate, Network: "demo_default", Message: "10.89.0.0/24"},
			progressEvent{ID: "Network demo_default", Text: "Created", Status: statusDone}, true},
		{"network removed", api.Event{Type: api.TypeNetwork, Action: api.ActionNetworkRemove, Network: "demo_default", Message: "demo_default 10.89.0.0/24"},
			progressEvent{ID: "Network demo_default", Text: "Removed", Status: statusDone}, true},
		{"volume field", api.Event{Type: api.TypeVolume, Action: api.ActionVolumeCreate, Volume: "demo_db"},
			progressEvent{ID: "Volume demo_db", Text: "Created", Status: statusDone}, true},
		{"volume removed", api.Event{Type: api.TypeVolume, Action: api.ActionVolumeRemove, Volume: "demo_db"},
			progressEvent{ID: "Volume demo_db", Text: "Removed", Status: statusDone}, true},
		{"pulling", api.Event{Type: api.TypeImage, Action: api.ActionPulling, Image: "busybox:1"},
			progressEvent{ID: "Image busybox:1", Text: "Pulling", Status: statusWorking}, true},
		{"pulled", api.Event{Type: api.TypeImage, Action: api.ActionPull, Image: "busybox:1"},
			progressEvent{ID: "Image busybox:1", Text: "Pulled", Status: statusDone}, true},
		{"image removed", api.Event{Type: api.TypeImage, Action: api.ActionImageRemove, Image: "demo-php"},
			progressEvent{ID: "Image demo-php", Text: "Removed", Status: statusDone}, true},
		{"restarting", api.Event{Action: api.ActionRestarting, Container: "demo-web-1"},
			progressEvent{ID: "Container demo-web-1", Text: "Restarting", Status: statusWorking}, true},
		{"died", api.Event{Action: api.ActionDie, Container: "demo-web-1", Message: "exit code 3"},
			progressEvent{ID: "Container demo-web-1", Text: "Exited", Details: "exit code 3", Status: statusDone}, true},
		{"network in use", api.Event{Type: api.TypeNetwork, Action: api.ActionNetworkInUse, Network: "demo_default"},
			progressEvent{ID: "Network demo_default", Text: "Resource is still in use", Status: statusWarning}, true},
		{"volume in use", api.Event{Type: api.TypeVolume, Action: api.ActionVolumeInUse, Volume: "demo_db"},
			progressEvent{ID: "Volume demo_db", Text: "Resource is still in use", Status: statusWarning}, true},
		{"warning", api.Event{Action: api.ActionWarning, Message: "x"}, progressEvent{}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, ok := progressOf(c.ev)
			if ok != c.ok || got != c.want {
				t.Errorf("progressOf = %+v, %v; want %+v, %v", got, ok, c.want, c.ok)
			}
		})
	}
}

// TestProgressStoppingTimer: while a container uses its grace period the
// terminal display shows it Stopping with the time so far, as compose's
// down and stop do, then Stopped with the time it took.
func TestProgressStoppingTimer(t *testing.T) {
	var out bytes.Buffer
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := newTTYProgress(&out, "Stopping", false, func() time.Time { return clock }, func() (int, int) { return 72, 24 })
	event := func(action string) {
		pe, ok := progressOf(api.Event{Action: action, Container: "demo-web-1"})
		if !ok {
			t.Fatalf("no progress for %q", action)
		}
		p.Event(pe)
	}
	line := func() string {
		frame := p.frame()
		if len(frame) != 2 {
			t.Fatalf("frame:\n%s", strings.Join(frame, "\n"))
		}
		return strings.Join(strings.Fields(frame[1]), " ")
	}
	event("stopping")
	clock = clock.Add(4200 * time.Millisecond)
	if got, want := line(), "Container demo-web-1 Stopping 4.2s"; !strings.HasSuffix(got, want) {
		t.Errorf("while stopping: %q, want it to end in %q", got, want)
	}
	clock = clock.Add(5800 * time.Millisecond)
	event("stop")
	clock = clock.Add(time.Second)
	if got, want := line(), "✔ Container demo-web-1 Stopped 10.0s"; got != want {
		t.Errorf("once stopped: %q, want %q", got, want)
	}
	p.Done()
}
