package planner

import (
	"fmt"
	"strings"

	"github.com/stack-dev/stack/internal/errdefs"
)

// ActionKind is what an [Action] does to a container.
type ActionKind int

// The action kinds. The zero value is not a valid kind.
const (
	// Create creates and starts a container that does not exist yet.
	Create ActionKind = iota + 1
	// Recreate replaces an existing container (ID) with a new one created
	// from the current configuration, under the same name.
	Recreate
	// Start starts an existing, stopped container that is up to date.
	Start
	// Restart stops and starts an existing, running container that is up to
	// date, because a dependency it declares restart on was recreated.
	Restart
	// Stop stops a running container before it is removed.
	Stop
	// Remove removes a stopped container.
	Remove
	// RemoveOrphan stops and removes a container of a service that is not
	// in the stack file.
	RemoveOrphan
)

var actionKindNames = [...]string{
	Create:       "create",
	Recreate:     "recreate",
	Start:        "start",
	Restart:      "restart",
	Stop:         "stop",
	Remove:       "remove",
	RemoveOrphan: "remove-orphan",
}

// String returns the kind as `stack plan` prints it: "create", "recreate",
// "start", "restart", "stop", "remove" or "remove-orphan".
func (k ActionKind) String() string {
	if k > 0 && int(k) < len(actionKindNames) {
		return actionKindNames[k]
	}
	return fmt.Sprintf("ActionKind(%d)", int(k))
}

// MarshalText encodes the kind as its String.
func (k ActionKind) MarshalText() ([]byte, error) {
	if k <= 0 || int(k) >= len(actionKindNames) {
		return nil, fmt.Errorf("marshal action kind %d: %w", int(k), errdefs.ErrInvalidArgument)
	}
	return []byte(k.String()), nil
}

// UnmarshalText decodes a kind written by MarshalText.
func (k *ActionKind) UnmarshalText(b []byte) error {
	for i, name := range actionKindNames {
		if i > 0 && name == string(b) {
			*k = ActionKind(i)
			return nil
		}
	}
	return fmt.Errorf("unmarshal action kind %q: %w", b, errdefs.ErrInvalidArgument)
}

// OrphanWave is the Wave of [RemoveOrphan] actions: they run before wave 0,
// so the names and ports of orphans are free before anything is created.
const OrphanWave = -1

// Action is one change to one container.
type Action struct {
	Kind    ActionKind `json:"kind"`
	Service string     `json:"service"`
	// Container is the container name: the instance name for Create and
	// Recreate, the existing container's name otherwise.
	Container string `json:"container"`
	// ID is the existing container's ID; empty for Create.
	ID     string `json:"id,omitempty"`
	Number int    `json:"number"`
	// Wave is the start wave of the service (see [Graph.Waves]), or
	// [OrphanWave].
	Wave int `json:"wave"`
	// ConfigHash is the [ConfigHash] the new container records; set for
	// Create and Recreate only.
	ConfigHash string `json:"config_hash,omitempty"`
	// Reason says why the action is needed, for people: "not created yet",
	// "config hash changed", "scale down from 3 to 1".
	Reason string `json:"reason"`
}

// Plan is the ordered list of actions that turns the observed containers of a
// project into the desired ones. [Diff] makes it.
//
// Actions are ordered by wave, then service, then container. Orphans come
// first (wave [OrphanWave]). Within a service, containers beyond the scale
// go first, highest number first, each stopped (when running) and then
// removed; then come the service's instances from number 1 up. A Restart
// or Recreate caused by a recreated dependency sits in the dependent's wave,
// after the dependency's. Actions of one wave on different services may run
// in parallel; a wave must finish before the next one starts.
type Plan struct {
	Actions []Action `json:"actions"`
	// Orphans are the containers of services that are not in the stack file,
	// whether or not the plan removes them, so the CLI can warn about them.
	// They are sorted by service, then number, then name.
	Orphans []Observed `json:"orphans,omitempty"`
}

// String renders the plan one action per line, in order, with aligned
// columns:
//
//	create    demo-db-1   (wave 0): not created yet
//	recreate  demo-web-1  (wave 1): config hash changed
//
// An empty plan renders as "no changes\n".
func (p *Plan) String() string {
	if len(p.Actions) == 0 {
		return "no changes\n"
	}
	kindW, nameW := 0, 0
	for _, a := range p.Actions {
		kindW = max(kindW, len(a.Kind.String()))
		nameW = max(nameW, len(a.Container))
	}
	var b strings.Builder
	for _, a := range p.Actions {
		fmt.Fprintf(&b, "%-*s  %-*s  (wave %d): %s\n", kindW, a.Kind, nameW, a.Container, a.Wave, a.Reason)
	}
	return b.String()
}
