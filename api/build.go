package api

import (
	"encoding/json"
	"time"
)

// BuildRequest asks the daemon to build an image from a Dockerfile. The
// context is a directory the daemon reads directly: client and daemon
// share the machine.
type BuildRequest struct {
	// Context is the absolute path of the build context. Required.
	Context string `json:"context"`
	// Dockerfile is the Dockerfile's path, relative to Context or
	// absolute. Optional: "Dockerfile".
	Dockerfile string `json:"dockerfile,omitempty"`
	// DockerfileInline is the Dockerfile's content. Optional.
	DockerfileInline string `json:"dockerfile_inline,omitempty"`
	// Args are the build args; a null value takes the variable from Env.
	Args map[string]*string `json:"args,omitempty"`
	// Env is the client's environment, for build args without a value.
	Env    map[string]string `json:"env,omitempty"`
	Target string            `json:"target,omitempty"`
	Tags   []string          `json:"tags,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
	// NoCache runs every step again.
	NoCache bool `json:"no_cache,omitempty"`
	// Pull is when FROM images are pulled: "missing" (default), "always"
	// (build --pull) or "never".
	Pull string `json:"pull,omitempty"`
}

// BuildEvent is one line of a build's progress stream. The last one has
// Image set on success, or Error on failure.
type BuildEvent struct {
	// Kind is "start", "output" or "done" for a step.
	Kind        string        `json:"kind,omitempty"`
	Step        int           `json:"step,omitempty"`
	Total       int           `json:"total,omitempty"`
	Stage       string        `json:"stage,omitempty"`
	Instruction string        `json:"instruction,omitempty"`
	Cached      bool          `json:"cached,omitempty"`
	Duration    time.Duration `json:"duration,omitempty"`
	Output      string        `json:"output,omitempty"`
	// Image is the built image, on the last event of a successful build.
	Image *ImageSummary `json:"image,omitempty"`
	// Steps and CachedSteps count the filesystem steps and cache hits.
	Steps       int `json:"steps,omitempty"`
	CachedSteps int `json:"cached_steps,omitempty"`
	// Error ends a failed build; ErrorClass is its errdefs class.
	Error      string `json:"error,omitempty"`
	ErrorClass string `json:"error_class,omitempty"`
}

// Err returns the error a final event carries, of the class the daemon
// named, or nil.
func (e BuildEvent) Err() error {
	if e.Error == "" {
		return nil
	}
	b, _ := json.Marshal(Error{Class: e.ErrorClass, Message: e.Error})
	return FromHTTP(0, b)
}
