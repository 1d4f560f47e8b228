package nat

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
)

// Fake is a [Rules] that changes nothing and records every operation as a
// line of text, for tests of code that drives Rules without root. Its zero
// value is ready to use.
type Fake struct {
	mu       sync.Mutex
	log      []string
	networks map[string]Network
	ports    map[string][]Port
}

// AddNetwork records n.
func (f *Fake) AddNetwork(n Network) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.networks == nil {
		f.networks = map[string]Network{}
	}
	f.networks[n.Name] = n
	mode := "masquerade"
	if n.Internal {
		mode = "internal"
	}
	f.log = append(f.log, fmt.Sprintf("add network %s bridge=%s subnet=%s %s", n.Name, n.Bridge, n.Subnet, mode))
	return nil
}

// RemoveNetwork records the removal.
func (f *Fake) RemoveNetwork(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.networks, name)
	f.log = append(f.log, "remove network "+name)
	if len(f.networks) == 0 {
		f.log = append(f.log, "remove table")
	}
	return nil
}

// AddPorts records ports.
func (f *Fake) AddPorts(owner string, ports []Port) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ports == nil {
		f.ports = map[string][]Port{}
	}
	f.ports[owner] = slices.Clone(ports)
	for _, p := range ports {
		f.log = append(f.log, fmt.Sprintf("add port %s %s via %s", owner, p, p.Bridge))
	}
	return nil
}

// RemovePorts records the removal.
func (f *Fake) RemovePorts(owner string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.ports[owner]; ok {
		f.log = append(f.log, "remove ports "+owner)
	}
	delete(f.ports, owner)
	return nil
}

// Inventory lists what the Fake holds.
func (f *Fake) Inventory() (Inventory, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return Inventory{
		Networks:   slices.Sorted(maps.Keys(f.networks)),
		PortOwners: slices.Sorted(maps.Keys(f.ports)),
	}, nil
}

// String returns the recorded operations, one a line.
func (f *Fake) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.log) == 0 {
		return ""
	}
	return strings.Join(f.log, "\n") + "\n"
}

// Reset forgets the recorded operations, not the state.
func (f *Fake) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log = nil
}
