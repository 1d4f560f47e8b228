package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/stack-dev/stack/image"
	"github.com/stack-dev/stack/internal/errdefs"
)

// RunSpec is one RUN step to execute.
type RunSpec struct {
	// Rootfs is the mounted root filesystem of the step. Writes to it
	// become the step's layer.
	Rootfs string
	// Args is the command, already wrapped in the shell for the shell
	// form.
	Args []string
	// Env is the environment: the image's ENV plus the build args in
	// scope.
	Env []string
	// User is the USER in effect ("" is root), resolved in Rootfs.
	User string
	// WorkDir is the absolute working directory; it exists in Rootfs.
	WorkDir string
	// Output receives what the command writes to stdout and stderr.
	Output io.Writer
}

// ExitError is the error of a RUN step whose command exited non-zero.
type ExitError struct {
	Code int
}

func (e *ExitError) Error() string { return fmt.Sprintf("exit code %d", e.Code) }

// Executor runs the command of a RUN step in a container on spec.Rootfs.
// It returns an *ExitError when the command ran and failed.
type Executor interface {
	Run(ctx context.Context, spec RunSpec) error
}

// Storage mounts the root filesystem of a step from layer directories and
// exports what the step changed. overlay.Driver implements all but
// UpperDir; the daemon adapts it.
type Storage interface {
	// Mount makes dir/rootfs an overlay of layers (lowest first) and
	// returns its path.
	Mount(ctx context.Context, dir string, layers []string) (string, error)
	// Unmount unmounts dir/rootfs, keeping the changes.
	Unmount(dir string) error
	// Diff writes the changes under dir as a layer tar.
	Diff(ctx context.Context, dir string, w io.Writer) error
	// UpperDir returns the directory holding the changes under dir in
	// the overlay layer form (whiteouts as 0:0 character devices), which
	// the builder keeps, once unmounted, as the unpacked new layer.
	UpperDir(dir string) (string, error)
	// Remove unmounts and deletes dir.
	Remove(dir string) error
}

// Options configure [New].
type Options struct {
	// Store holds base images and receives layers and the built image.
	// Required.
	Store image.Store
	// Storage mounts step root filesystems. Required.
	Storage Storage
	// Executor runs RUN steps. Required.
	Executor Executor
	// Root is the builder's state directory (cache records, kept layer
	// directories, step mounts), on the same filesystem as the storage
	// driver's root. Required.
	Root string
	// WorkDir is where the root filesystems of steps are mounted while
	// they run, on the same filesystem as Root. Optional: Root/work. A
	// builder of a process of its own gets a directory of its own, so
	// that what it left mounted when killed is known to be its own.
	WorkDir string
	// Pull fetches an image into Store, for a FROM the store lacks (or
	// always, see Request.Pull). Optional: without it a missing base is an
	// error.
	Pull func(ctx context.Context, ref string) error
}

// Builder builds images. It is safe for concurrent use; concurrent builds
// share the cache.
type Builder struct {
	opts Options
}

// The layout of Options.Root.
const (
	cacheDir  = "cache"
	layersDir = "layers"
	workDir   = "work"
)

// New returns a Builder keeping its state under opts.Root.
func New(opts Options) (*Builder, error) {
	if opts.Store == nil || opts.Storage == nil || opts.Executor == nil {
		return nil, fmt.Errorf("builder: a store, a storage driver and an executor are required: %w", errdefs.ErrInvalidArgument)
	}
	if opts.Root == "" || !filepath.IsAbs(opts.Root) {
		return nil, fmt.Errorf("builder root %q must be an absolute path: %w", opts.Root, errdefs.ErrInvalidArgument)
	}
	if opts.WorkDir == "" {
		opts.WorkDir = filepath.Join(opts.Root, workDir)
	}
	for _, d := range []string{filepath.Join(opts.Root, cacheDir), filepath.Join(opts.Root, layersDir), opts.WorkDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("create builder state: %w", err)
		}
	}
	return &Builder{opts: opts}, nil
}

// Request describes one build.
type Request struct {
	// ContextDir is the build context directory. Required.
	ContextDir string
	// Dockerfile is the Dockerfile's path, relative to ContextDir or
	// absolute. Optional: "Dockerfile".
	Dockerfile string
	// DockerfileInline is the Dockerfile's content; it wins over
	// Dockerfile. Optional.
	DockerfileInline string
	// Args are the build args (--build-arg, build.args). A nil value
	// takes the variable from Env. Optional.
	Args map[string]*string
	// Env is where build args without a value are looked up (the
	// client's environment). Optional.
	Env map[string]string
	// Target is the stage to build. Optional: the last one.
	Target string
	// Tags name the image. Optional: the image is then untagged.
	Tags []string
	// Labels are added to the image's labels. Optional.
	Labels map[string]string
	// NoCache runs every step again. Optional.
	NoCache bool
	// Pull says when a FROM image is pulled: "missing" (the default:
	// when the store lacks it), "always" (build --pull, build.pull,
	// pull_policy: always) or "never" (pull_policy: never).
	Pull string
	// Progress receives the build's events in order. Optional.
	Progress func(Event)
}

// EventKind says what an [Event] reports.
type EventKind int

// The kinds of build events.
const (
	// StepStart is sent before a step runs.
	StepStart EventKind = iota
	// StepOutput carries a line the step's command wrote.
	StepOutput
	// StepDone is sent when a step has finished or was found in the cache.
	StepDone
)

func (k EventKind) String() string {
	switch k {
	case StepStart:
		return "start"
	case StepOutput:
		return "output"
	case StepDone:
		return "done"
	}
	return "unknown"
}

// Event is one thing that happened during a build.
type Event struct {
	Kind EventKind
	// Step numbers the step among all steps of the build, from 1; Total
	// is their number.
	Step, Total int
	// Stage is the stage's name, or its index when it has none.
	Stage string
	// Instruction is the step as written (after variable expansion).
	Instruction string
	// Cached is set on StepDone when the step's layer came from the cache.
	Cached bool
	// Duration is the step's time, on StepDone.
	Duration time.Duration
	// Output is a line of output (StepOutput), without its newline.
	Output string
}

// Result is a built image.
type Result struct {
	Image image.Image
	// Steps and CachedSteps count the filesystem steps of the build and
	// those whose layer came from the cache.
	Steps, CachedSteps int
}

// Build builds req's target stage and publishes it under req.Tags. A
// failing step's error names the Dockerfile line, and for RUN wraps an
// *ExitError and ends with the tail of the command's output.
func (b *Builder) Build(ctx context.Context, req Request) (Result, error) {
	if req.ContextDir == "" {
		return Result{}, fmt.Errorf("build: a context directory is required: %w", errdefs.ErrInvalidArgument)
	}
	ctxDir, err := filepath.Abs(req.ContextDir)
	if err != nil {
		return Result{}, fmt.Errorf("build context: %w", err)
	}
	if fi, err := os.Stat(ctxDir); err != nil || !fi.IsDir() {
		return Result{}, fmt.Errorf("build context %s is not a directory: %w", req.ContextDir, errdefs.ErrInvalidArgument)
	}
	src, name, err := readDockerfile(ctxDir, req)
	if err != nil {
		return Result{}, err
	}
	df, err := parseDockerfile(name, src)
	if err != nil {
		return Result{}, err
	}
	ignore, err := readDockerignore(ctxDir)
	if err != nil {
		return Result{}, err
	}
	r := &run{b: b, req: req, df: df, ctxDir: ctxDir, ignore: ignore, stages: map[int]*state{}}
	if err := r.metaArgs(); err != nil {
		return Result{}, err
	}
	plan, err := df.plan(req.Target, r.meta)
	if err != nil {
		return Result{}, err
	}
	r.total = plan.steps
	var final *state
	for _, i := range plan.order {
		st, err := r.stage(ctx, i)
		if err != nil {
			return Result{}, err
		}
		r.stages[i] = st
		final = st
	}
	img, err := r.publish(ctx, final)
	if err != nil {
		return Result{}, err
	}
	return Result{Image: img, Steps: r.fsSteps, CachedSteps: r.cached}, nil
}

// readDockerfile returns the Dockerfile's content and the name errors
// show for it.
func readDockerfile(ctxDir string, req Request) ([]byte, string, error) {
	if req.DockerfileInline != "" {
		return []byte(req.DockerfileInline), "Dockerfile", nil
	}
	p := req.Dockerfile
	if p == "" {
		p = "Dockerfile"
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(ctxDir, p)
	}
	data, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, "", fmt.Errorf("no Dockerfile at %s: give its path with dockerfile: or -f: %w", p, errdefs.ErrNotFound)
	}
	if err != nil {
		return nil, "", fmt.Errorf("read Dockerfile: %w", err)
	}
	return data, filepath.Base(p), nil
}

// layer is one layer of a build state.
type layer struct {
	desc   ocispec.Descriptor
	diffID digest.Digest
	// dir is the unpacked layer, when known.
	dir string
}
