package api

import (
	"encoding/json"
	"time"
)

// Version is the version of the API these types describe.
const Version = "1"

// ImageSummary is one image, as `stack image ls` shows it.
type ImageSummary struct {
	ID       string    `json:"id"`
	RepoTags []string  `json:"repo_tags"`
	Created  time.Time `json:"created"`
	Size     int64     `json:"size"`
}

// ImageHistoryEntry is one line of `stack image history`, newest first.
type ImageHistoryEntry struct {
	ID         string    `json:"id"`
	Created    time.Time `json:"created"`
	CreatedBy  string    `json:"created_by"`
	Size       int64     `json:"size"`
	Comment    string    `json:"comment,omitempty"`
	EmptyLayer bool      `json:"empty_layer,omitempty"`
}

// ImageRemoveReport says what removing an image did, in docker's terms.
type ImageRemoveReport struct {
	Untagged []string `json:"untagged,omitempty"`
	Deleted  []string `json:"deleted,omitempty"`
}

// ImageInspect is the JSON description of an image, shaped like
// `docker image inspect`.
type ImageInspect = json.RawMessage

// RootfsImport asks for a root filesystem, a directory or a tar file, to be
// imported as a single-layer image.
type RootfsImport struct {
	// Source is the path of a directory or a (compressed) tar. Required.
	Source string `json:"source"`
	// Ref is the name the image gets (name[:tag]). Required.
	Ref string `json:"ref"`
	// Cmd, Entrypoint, Env, WorkingDir and User become the image's config.
	Cmd        []string `json:"cmd,omitempty"`
	Entrypoint []string `json:"entrypoint,omitempty"`
	Env        []string `json:"env,omitempty"`
	WorkingDir string   `json:"working_dir,omitempty"`
	User       string   `json:"user,omitempty"`
}

// Info describes the engine, as `stack info` shows it.
type Info struct {
	ServerVersion     string `json:"server_version"`
	APIVersion        string `json:"api_version"`
	StateRoot         string `json:"state_root"`
	StorageDriver     string `json:"storage_driver"`
	CgroupVersion     string `json:"cgroup_version"`
	CgroupDriver      string `json:"cgroup_driver"`
	Runtime           string `json:"runtime"`
	KernelVersion     string `json:"kernel_version"`
	OperatingSystem   string `json:"operating_system"`
	Architecture      string `json:"architecture"`
	CPUs              int    `json:"cpus"`
	MemTotal          int64  `json:"mem_total"`
	Images            int    `json:"images"`
	Containers        int    `json:"containers"`
	ContainersRunning int    `json:"containers_running"`
	// SecurityOptions are the isolation defaults in force, in docker's
	// form: "name=seccomp,profile=builtin", "name=cgroupns".
	SecurityOptions []string `json:"security_options"`
	// DockerHost is where the daemon serves the Docker Engine API, ""
	// when it does not: what DOCKER_HOST is set to for docker's tools.
	DockerHost string `json:"docker_host,omitempty"`
}

// DefaultDockerHost is where the daemon serves the Docker Engine API
// unless told otherwise.
const DefaultDockerHost = "unix:///run/stack/docker.sock"

// VersionInfo is the daemon's version.
type VersionInfo struct {
	Version    string `json:"version"`
	APIVersion string `json:"api_version"`
}
