package network

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/stack-dev/stack/internal/errdefs"
)

// State file names under [Options.StateRoot].
const (
	stateFile     = "network.json"
	ipamFile      = "ipam.json"
	containersDir = "containers"
	netnsDir      = "netns"
	instanceFile  = "instance"
)

// LoadInstance returns the identity of the network state under root: 8
// random hex digits, made when the state root is new and kept in it.
func LoadInstance(root string) (string, error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return "", err
	}
	path := filepath.Join(root, instanceFile)
	b, err := os.ReadFile(path)
	if err == nil && len(strings.TrimSpace(string(b))) == 8 {
		return strings.TrimSpace(string(b)), nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	var r [4]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", err
	}
	id := hex.EncodeToString(r[:])
	if err := writeFileAtomic(path, []byte(id+"\n")); err != nil {
		return "", fmt.Errorf("write instance: %w", err)
	}
	return id, nil
}

// Instance returns the instance of the network state under root, or ""
// when it has none yet (for tools that look for an engine's links).
func Instance(root string) string {
	b, _ := os.ReadFile(filepath.Join(root, instanceFile))
	return strings.TrimSpace(string(b))
}

// stateVersion is written in network.json. Version 1 kept the containers
// there too.
const stateVersion = 2

// state is what the manager persists besides ipam: the networks it set up,
// in network.json, and the containers attached to them, one file each
// under containers/, so that attaching or detaching a container writes
// one small file whatever the number of others.
type state struct {
	Networks   map[string]*networkState
	Containers map[string]*containerState
}

// stateOnDisk is network.json.
type stateOnDisk struct {
	Version  int                      `json:"version"`
	Networks map[string]*networkState `json:"networks"`
	// Containers is version 1's; read, then moved to containers/.
	Containers map[string]*containerState `json:"containers,omitempty"`
}

type networkState struct {
	Config NetworkConfig `json:"config"`
	Bridge string        `json:"bridge"`
}

type containerState struct {
	NetNSPath string           `json:"netns"`
	OwnNetNS  bool             `json:"own_netns"`
	Networks  []EndpointConfig `json:"networks"`
	Endpoints []Endpoint       `json:"endpoints"`
	Ports     []PortBinding    `json:"ports"`
	DNS       []string         `json:"dns,omitempty"`
}

func newState() *state {
	return &state{Networks: map[string]*networkState{}, Containers: map[string]*containerState{}}
}

// loadState reads the state under root: network.json and containers/. A
// version 1 network.json's containers are moved to containers/.
func loadState(root string) (*state, error) {
	path := filepath.Join(root, stateFile)
	st := newState()
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if err == nil {
		var disk stateOnDisk
		if err := json.Unmarshal(b, &disk); err != nil {
			return nil, fmt.Errorf("parse %s: %w: %w", path, err, errdefs.ErrFailedPrecondition)
		}
		if disk.Version != stateVersion && disk.Version != 1 {
			return nil, fmt.Errorf("%s has version %d, want %d: %w", path, disk.Version, stateVersion, errdefs.ErrFailedPrecondition)
		}
		if disk.Networks != nil {
			st.Networks = disk.Networks
		}
		for id, cs := range disk.Containers {
			if err := saveContainer(root, id, cs); err != nil {
				return nil, fmt.Errorf("move the state of %q to %s: %w", id, containersDir, err)
			}
		}
		if len(disk.Containers) > 0 {
			if err := st.saveNetworks(root); err != nil {
				return nil, err
			}
		}
	}
	dir := filepath.Join(root, containersDir)
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || strings.HasPrefix(id, ".") {
			// A temporary file of a write a crash cut short.
			os.Remove(filepath.Join(dir, e.Name()))
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		cs := &containerState{}
		if err := json.Unmarshal(b, cs); err != nil {
			return nil, fmt.Errorf("parse %s: %w: %w", filepath.Join(dir, e.Name()), err, errdefs.ErrFailedPrecondition)
		}
		st.Containers[id] = cs
	}
	return st, nil
}

// saveNetworks writes network.json, durably: it changes when a network is
// created or removed.
func (s *state) saveNetworks(root string) error {
	b, err := json.MarshalIndent(stateOnDisk{Version: stateVersion, Networks: s.Networks}, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(root, stateFile), b)
}

// saveContainer writes the state of container id. Not fsync'ed: what it
// describes (a namespace, veths, rules) does not outlive the host either,
// and a torn write is impossible (rename).
func saveContainer(root, id string, cs *containerState) error {
	b, err := json.Marshal(cs)
	if err != nil {
		return err
	}
	dir := filepath.Join(root, containersDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, id+".json"), b)
}

// removeContainerState removes the state file of container id.
func removeContainerState(root, id string) error {
	err := os.Remove(filepath.Join(root, containersDir, id+".json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// writeFileAtomic replaces path with b: temporary file in the same
// directory, fsync, rename(2), fsync of the directory. (The same dozen
// lines as in ipam, which must stay free of this package.)
func writeFileAtomic(path string, b []byte) (retErr error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if retErr != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(b); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// writeFile replaces path with b through a temporary file and a rename,
// without syncing: for files whose loss in a power cut costs nothing (the
// resolver's, which the manager writes again).
func writeFile(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}
