package main

import (
	"strings"

	"github.com/stack-dev/stack/api"
)

// eventWords are the daemon's event actions as the progress display
// words them, with whether the resource is still being worked on.
var eventWords = map[string]struct {
	text   string
	status progressStatus
}{
	"creating": {"Creating", statusWorking}, "create": {"Created", statusDone},
	"starting": {"Starting", statusWorking}, "start": {"Started", statusDone},
	"stopping": {"Stopping", statusWorking}, "stop": {"Stopped", statusDone},
	"removing": {"Removing", statusWorking}, "remove": {"Removed", statusDone},
	"restarting": {"Restarting", statusWorking}, "restart": {"Restarted", statusDone},
	"waiting": {"Waiting", statusWorking}, "healthy": {"Healthy", statusDone},
	"unhealthy": {"Unhealthy", statusError}, "exited": {"Exited", statusDone},
	"kill": {"Killed", statusDone}, "pause": {"Paused", statusDone}, "unpause": {"Unpaused", statusDone},
	"running": {"Running", statusDone}, "recreate": {"Recreate", statusWorking},
	"die": {"Exited", statusDone},
}

// progressOf turns a daemon event into a change of one resource; ok is
// false for an event that is not about one (a warning).
func progressOf(ev api.Event) (progressEvent, bool) {
	switch ev.Action {
	case "network-create", "network-remove":
		name := ev.Message
		if f := strings.Fields(name); len(f) > 0 {
			name = f[0]
		}
		text := "Created"
		if ev.Action == "network-remove" {
			text = "Removed"
		}
		return progressEvent{ID: "Network " + name, Text: text, Status: statusDone}, true
	case "volume-create", "volume-remove":
		text := "Created"
		if ev.Action == "volume-remove" {
			text = "Removed"
		}
		return progressEvent{ID: "Volume " + ev.Message, Text: text, Status: statusDone}, true
	case "pull":
		ref, what, _ := strings.Cut(ev.Message, "  ")
		e := progressEvent{ID: "Image " + ref, Text: strings.TrimSpace(what), Status: statusDone}
		if e.Text == "Pulling" {
			e.Status = statusWorking
		}
		return e, true
	case "image-remove":
		return progressEvent{ID: "Image " + ev.Message, Text: "Removed", Status: statusDone}, true
	case "build":
		return progressEvent{ID: "Service " + ev.Service, Text: "Building", Status: statusWorking}, true
	case "build-step":
		return progressEvent{ID: "Service " + ev.Service, Text: "Building", Details: ev.Message, Status: statusWorking}, true
	case "built":
		return progressEvent{ID: "Service " + ev.Service, Text: "Built", Status: statusDone}, true
	case "warning", "error", "":
		return progressEvent{}, false
	}
	w, ok := eventWords[ev.Action]
	if !ok {
		w.text, w.status = ev.Action, statusDone
	}
	id := ev.Container
	if id == "" {
		id = ev.Service
	}
	e := progressEvent{ID: "Container " + id, Text: w.text, Status: w.status}
	if ev.Action == "unhealthy" || ev.Action == "die" {
		e.Details = ev.Message
	}
	return e, true
}
