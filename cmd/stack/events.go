package main

import (
	"github.com/stack-dev/stack/api"
)

// eventWords are the daemon's event actions as the progress display
// words them, with whether the resource is still being worked on.
var eventWords = map[string]struct {
	text   string
	status progressStatus
}{
	api.ActionCreating: {"Creating", statusWorking}, api.ActionCreate: {"Created", statusDone},
	api.ActionStarting: {"Starting", statusWorking}, api.ActionStart: {"Started", statusDone},
	api.ActionStopping: {"Stopping", statusWorking}, api.ActionStop: {"Stopped", statusDone},
	api.ActionRemoving: {"Removing", statusWorking}, api.ActionRemove: {"Removed", statusDone},
	api.ActionRestarting: {"Restarting", statusWorking}, api.ActionRestart: {"Restarted", statusDone},
	"waiting": {"Waiting", statusWorking}, api.ActionHealthy: {"Healthy", statusDone},
	api.ActionUnhealthy: {"Unhealthy", statusError}, api.ActionExited: {"Exited", statusDone},
	api.ActionKill: {"Killed", statusDone}, api.ActionPause: {"Paused", statusDone}, api.ActionUnpause: {"Unpaused", statusDone},
	"running": {"Running", statusDone}, "recreate": {"Recreate", statusWorking},
	api.ActionDie: {"Exited", statusDone},
}

// progressOf turns a daemon event into a change of one resource; ok is
// false for an event that is not about one (a warning). The resource is
// named by the event's field for it (Network, Volume, Image).
func progressOf(ev api.Event) (progressEvent, bool) {
	done := func(created bool) string {
		if created {
			return "Created"
		}
		return "Removed"
	}
	switch ev.Action {
	case api.ActionNetworkCreate, api.ActionNetworkRemove:
		return progressEvent{ID: "Network " + ev.Network, Text: done(ev.Action == api.ActionNetworkCreate), Status: statusDone}, true
	case api.ActionVolumeCreate, api.ActionVolumeRemove:
		return progressEvent{ID: "Volume " + ev.Volume, Text: done(ev.Action == api.ActionVolumeCreate), Status: statusDone}, true
	case api.ActionPulling:
		return progressEvent{ID: "Image " + ev.Image, Text: "Pulling", Status: statusWorking}, true
	case api.ActionPull:
		return progressEvent{ID: "Image " + ev.Image, Text: "Pulled", Status: statusDone}, true
	case api.ActionNetworkInUse:
		// What down SERVICE... leaves to the containers that stay, in
		// compose's words.
		return progressEvent{ID: "Network " + ev.Network, Text: "Resource is still in use", Status: statusWarning}, true
	case api.ActionVolumeInUse:
		return progressEvent{ID: "Volume " + ev.Volume, Text: "Resource is still in use", Status: statusWarning}, true
	case api.ActionImageRemove:
		return progressEvent{ID: "Image " + ev.Image, Text: "Removed", Status: statusDone}, true
	case api.ActionBuild:
		return progressEvent{ID: "Service " + ev.Service, Text: "Building", Status: statusWorking}, true
	case api.ActionBuildStep:
		return progressEvent{ID: "Service " + ev.Service, Text: "Building", Details: ev.Message, Status: statusWorking}, true
	case api.ActionBuilt:
		return progressEvent{ID: "Service " + ev.Service, Text: "Built", Status: statusDone}, true
	case api.ActionWarning, "":
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
	if ev.Action == api.ActionUnhealthy || ev.Action == api.ActionDie {
		e.Details = ev.Message
	}
	return e, true
}
