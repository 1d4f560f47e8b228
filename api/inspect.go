package api

import "time"

// ContainerTop is the process table of one container, as `stack top`
// shows it: the columns of ps -ef, one row per process.
type ContainerTop struct {
	Name      string     `json:"name"`
	Service   string     `json:"service"`
	Titles    []string   `json:"titles"`
	Processes [][]string `json:"processes"`
}

// ContainerStats is one sample of a container's resource usage, read from
// its cgroup, as `stack stats` shows it.
type ContainerStats struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Service string `json:"service"`
	// CPUPercent is the CPU time used over the sampling window, as a
	// share of one CPU: 200 is two CPUs busy.
	CPUPercent float64 `json:"cpu_percent"`
	// MemoryUsage and MemoryLimit are bytes; the limit is the host's
	// memory when the container has none.
	MemoryUsage   uint64  `json:"memory_usage"`
	MemoryLimit   uint64  `json:"memory_limit"`
	MemoryPercent float64 `json:"memory_percent"`
	// NetRx and NetTx are the bytes received and sent on the container's
	// interfaces, loopback left out.
	NetRx     uint64 `json:"net_rx"`
	NetTx     uint64 `json:"net_tx"`
	Pids      uint64 `json:"pids"`
	PidsLimit uint64 `json:"pids_limit,omitempty"`
}

// Volume is one volume under the state root, as `stack volume ls` shows
// it.
type Volume struct {
	Name       string `json:"name"`
	Driver     string `json:"driver"`
	Mountpoint string `json:"mountpoint"`
	// Project is the project that created the volume; empty when unknown.
	Project string `json:"project,omitempty"`
	// Anonymous is set for the unnamed volumes of a service (volumes:
	// [/data]), which volume prune removes without --all.
	Anonymous bool `json:"anonymous,omitempty"`
	// UsedBy names the containers that mount the volume, stopped ones
	// included.
	UsedBy []string `json:"used_by,omitempty"`
	// Labels are the volume's labels; Created is when it was made.
	Labels  map[string]string `json:"labels,omitempty"`
	Created time.Time         `json:"created,omitzero"`
}

// Network is one network the daemon manages, as `stack network ls`
// shows it.
type Network struct {
	Name     string `json:"name"`
	Driver   string `json:"driver"`
	Bridge   string `json:"bridge"`
	Subnet   string `json:"subnet"`
	Gateway  string `json:"gateway"`
	Internal bool   `json:"internal,omitempty"`
	Project  string `json:"project,omitempty"`
}

// PruneRequest says what a volume or system prune removes.
type PruneRequest struct {
	// All removes unused images, not only dangling ones, and named
	// volumes, not only anonymous ones.
	All bool `json:"all,omitempty"`
	// Images, Networks and Volumes select what is pruned.
	Images   bool `json:"images,omitempty"`
	Networks bool `json:"networks,omitempty"`
	Volumes  bool `json:"volumes,omitempty"`
}

// PruneReport says what a prune removed and about how many bytes that
// gave back.
type PruneReport struct {
	Images         []string `json:"images,omitempty"`
	Networks       []string `json:"networks,omitempty"`
	Volumes        []string `json:"volumes,omitempty"`
	SpaceReclaimed int64    `json:"space_reclaimed"`
}
