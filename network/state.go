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
	stateFile    = "network.json"
	ipamFile     = "ipam.json"
	netnsDir     = "netns"
	instanceFile = "instance"
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

const stateVersion = 1

// state is what the manager persists besides ipam: the networks it set up
// and the containers attached to them.
type state struct {
	Version    int                        `json:"version"`
	Networks   map[string]*networkState   `json:"networks"`
	Containers map[string]*containerState `json:"containers"`
}

type networkState struct {
	Config NetworkConfig `json:"config"`
	Bridge string        `json:"bridge"`
}

type containerState struct {
	NetNSPath string `json:"netns"`
	OwnNetNS  bool   `json:"own_netns"`
	// Later: the container's own namespaces are plugged run by run
	// (AttachConfig.NetNSLater).
	Later     bool             `json:"later,omitempty"`
	Networks  []EndpointConfig `json:"networks"`
	Endpoints []Endpoint       `json:"endpoints"`
	Ports     []PortBinding    `json:"ports"`
	DNS       []string         `json:"dns,omitempty"`
}

func newState() *state {
	return &state{Version: stateVersion, Networks: map[string]*networkState{}, Containers: map[string]*containerState{}}
}

func loadState(path string) (*state, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return newState(), nil
	}
	if err != nil {
		return nil, err
	}
	st := newState()
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("parse %s: %w: %w", path, err, errdefs.ErrFailedPrecondition)
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("%s has version %d, want %d: %w", path, st.Version, stateVersion, errdefs.ErrFailedPrecondition)
	}
	if st.Networks == nil {
		st.Networks = map[string]*networkState{}
	}
	if st.Containers == nil {
		st.Containers = map[string]*containerState{}
	}
	return st, nil
}

func (s *state) save(path string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, b)
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
