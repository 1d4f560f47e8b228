package build

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"github.com/moby/patternmatcher"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/stack-dev/stack/image"
	"github.com/stack-dev/stack/internal/errdefs"
)

// defaultShell is the shell of RUN, CMD and ENTRYPOINT in shell form.
var defaultShell = []string{"/bin/sh", "-c"}

// defaultPath is the PATH docker gives a build whose base image sets none.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// state is an image being built: the layers, config and history so far.
type state struct {
	base    string // the base image's ID, "" for scratch or a stage
	layers  []layer
	file    image.ConfigFile
	created time.Time // of the newest layer, for metadata steps
	args    map[string]string
}

// clone returns a copy whose changes do not affect s.
func (s *state) clone() *state {
	c := *s
	c.layers = slices.Clone(s.layers)
	b, _ := json.Marshal(s.file)
	c.file = image.ConfigFile{}
	_ = json.Unmarshal(b, &c.file)
	c.args = map[string]string{}
	return &c
}

// chainID identifies the filesystem of s: it hashes its layers' diffIDs
// in order, as the OCI image spec's ChainID does.
func (s *state) chainID() string {
	h := digest.SHA256.Digester()
	for _, l := range s.layers {
		io.WriteString(h.Hash(), l.diffID.String()+"\n")
	}
	return h.Digest().String()
}

// run is one build in progress.
type run struct {
	b       *Builder
	req     Request
	df      *dockerfile
	ctxDir  string
	ignore  *patternmatcher.PatternMatcher
	total   int
	step    int
	stages  map[int]*state
	fsSteps int
	cached  int
	meta    map[string]string // meta ARGs (before the first FROM), resolved
}

func (r *run) progress(e Event) {
	if r.req.Progress != nil {
		e.Total = r.total
		r.req.Progress(e)
	}
}

// buildArg returns the value of build arg name given in the request.
func (r *run) buildArg(name string) (string, bool) {
	v, ok := r.req.Args[name]
	if !ok {
		return "", false
	}
	if v == nil {
		s, ok := r.req.Env[name]
		return s, ok
	}
	return *v, true
}

// metaArgs resolves the ARGs before the first FROM, which only FROM lines
// (and ARGs that redeclare them in a stage) can use.
func (r *run) metaArgs() error {
	if r.meta != nil {
		return nil
	}
	r.meta = map[string]string{}
	lex := shell.NewLex(r.df.escape)
	for _, a := range r.df.metaArgs {
		for _, kv := range a.Args {
			v := ""
			if kv.Value != nil {
				res, err := lex.ProcessWordWithMatches(*kv.Value, envGetter(r.meta))
				if err != nil {
					return fmt.Errorf("%s:%d: ARG %s: %v: %w", r.df.name, line(a.Location()), kv.Key, err, errdefs.ErrInvalidArgument)
				}
				v = res.Result
			}
			if bv, ok := r.buildArg(kv.Key); ok {
				v = bv
			}
			r.meta[kv.Key] = v
		}
	}
	return nil
}

// envGetter adapts a map to shell.EnvGetter.
type envGetter map[string]string

func (e envGetter) Get(k string) (string, bool) { v, ok := e[k]; return v, ok }
func (e envGetter) Keys() []string {
	out := make([]string, 0, len(e))
	for k := range e {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// stageName is how progress names stage i.
func (r *run) stageName(i int) string {
	if n := r.df.stages[i].Name; n != "" {
		return n
	}
	return fmt.Sprint(i)
}

// stage builds stage i.
func (r *run) stage(ctx context.Context, i int) (*state, error) {
	if err := r.metaArgs(); err != nil {
		return nil, err
	}
	s := r.df.stages[i]
	lex := shell.NewLex(r.df.escape)
	baseRes, err := lex.ProcessWordWithMatches(s.BaseName, envGetter(r.meta))
	if err != nil {
		return nil, fmt.Errorf("%s:%d: FROM %s: %v: %w", r.df.name, line(s.Location), s.BaseName, err, errdefs.ErrInvalidArgument)
	}
	baseName := baseRes.Result
	r.step++
	start := time.Now()
	r.progress(Event{Kind: StepStart, Step: r.step, Stage: r.stageName(i), Instruction: "FROM " + baseName})
	var st *state
	if j, ok := r.df.stageIndex(baseName, i); ok && r.stages[j] != nil {
		st = r.stages[j].clone()
	} else if st, err = r.baseImage(ctx, baseName); err != nil {
		return nil, fmt.Errorf("%s:%d: FROM %s: %w", r.df.name, line(s.Location), baseName, err)
	}
	r.progress(Event{Kind: StepDone, Step: r.step, Stage: r.stageName(i), Instruction: "FROM " + baseName, Duration: time.Since(start)})
	for _, c := range s.Commands {
		r.step++
		if err := r.command(ctx, i, st, c); err != nil {
			return nil, fmt.Errorf("%s:%d: %s: %w", r.df.name, line(c.Location()), cmdText(c), err)
		}
	}
	return st, nil
}

// baseImage loads the image ref from the store, or an empty state for
// scratch.
func (r *run) baseImage(ctx context.Context, ref string) (*state, error) {
	st := &state{args: map[string]string{}}
	st.file.Architecture, st.file.OS = goarch(), "linux"
	st.file.RootFS.Type = "layers"
	if ref == "scratch" {
		return st, nil
	}
	img, err := r.b.opts.Store.Get(ctx, ref)
	missing := errors.Is(err, errdefs.ErrNotFound)
	if pull := r.b.opts.Pull; pull != nil && (missing && r.req.Pull != "never" || r.req.Pull == "always") {
		if perr := pull(ctx, ref); perr != nil {
			return nil, fmt.Errorf("FROM %s: %w", ref, perr)
		}
		img, err = r.b.opts.Store.Get(ctx, ref)
		missing = errors.Is(err, errdefs.ErrNotFound)
	}
	if missing {
		return nil, fmt.Errorf("image %s is not here: import it with `stack image import`, or pull it: %w", ref, err)
	}
	if err != nil {
		return nil, err
	}
	var m ocispec.Manifest
	if err := readJSONBlob(ctx, r.b.opts.Store, img.Manifest, &m); err != nil {
		return nil, fmt.Errorf("image %s: %w", ref, err)
	}
	if err := readJSONBlob(ctx, r.b.opts.Store, m.Config.Digest, &st.file); err != nil {
		return nil, fmt.Errorf("image %s: %w", ref, err)
	}
	if len(m.Layers) != len(st.file.RootFS.DiffIDs) {
		return nil, fmt.Errorf("image %s: %d layers but %d diff_ids: %w", ref, len(m.Layers), len(st.file.RootFS.DiffIDs), errdefs.ErrFailedPrecondition)
	}
	st.base = img.ID.String()
	for i, d := range m.Layers {
		st.layers = append(st.layers, layer{desc: d, diffID: st.file.RootFS.DiffIDs[i]})
	}
	// The base's layers are unpacked where the store keeps them; knowing
	// their directories lets a step mount them directly, with no
	// intermediate image written just to find them.
	if len(st.layers) > 0 {
		if rf, err := r.b.opts.Store.Rootfs(ctx, img.Manifest.String()); err == nil && len(rf.Layers) == len(st.layers) {
			for i := range st.layers {
				st.layers[i].dir = rf.Layers[i]
			}
		}
	}
	st.file.RootFS.DiffIDs = nil
	if st.file.Created != nil {
		st.created = st.file.Created.UTC()
	}
	if st.file.OS == "" {
		st.file.OS = "linux"
	}
	return st, nil
}

func readJSONBlob(ctx context.Context, p image.Provider, d digest.Digest, v any) error {
	rc, err := p.Open(ctx, d)
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := json.NewDecoder(io.LimitReader(rc, 8<<20)).Decode(v); err != nil {
		return fmt.Errorf("blob %s: %v: %w", d, err, errdefs.ErrInvalidArgument)
	}
	return nil
}

// env returns the environment of a step: the image's ENV and the build
// args in scope, image ENV winning as in docker.
func (st *state) env() []string {
	out := slices.Clone(st.file.Config.Env)
	have := map[string]bool{}
	for _, e := range out {
		k, _, _ := strings.Cut(e, "=")
		have[k] = true
	}
	if !have["PATH"] {
		out = append(out, defaultPath)
		have["PATH"] = true
	}
	for _, k := range sortedKeys(st.args) {
		if !have[k] {
			out = append(out, k+"="+st.args[k])
		}
	}
	return out
}

// expander expands $VARS in instruction words against the step's
// environment.
func (r *run) expander(st *state) instructions.SingleWordExpander {
	lex := shell.NewLex(r.df.escape)
	env := map[string]string{}
	for _, e := range st.env() {
		k, v, _ := strings.Cut(e, "=")
		env[k] = v
	}
	return func(word string) (string, error) {
		res, err := lex.ProcessWordWithMatches(word, envGetter(env))
		return res.Result, err
	}
}

// history records a step that changed no files.
func (st *state) history(createdBy string) {
	t := st.created
	h := image.History{CreatedBy: createdBy, EmptyLayer: true, Comment: "stack build"}
	if !t.IsZero() {
		h.Created = &t
	}
	st.file.History = append(st.file.History, h)
}

// command carries out one instruction of stage i on st.
func (r *run) command(ctx context.Context, i int, st *state, c instructions.Command) error {
	if ex, ok := c.(instructions.SupportsSingleWordExpansion); ok {
		if _, isRun := c.(*instructions.RunCommand); !isRun {
			if err := ex.Expand(r.expander(st)); err != nil {
				return fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
			}
		}
	}
	start := time.Now()
	text := cmdText(c)
	r.progress(Event{Kind: StepStart, Step: r.step, Stage: r.stageName(i), Instruction: text})
	cached := false
	cfg := &st.file.Config
	var err error
	switch c := c.(type) {
	case *instructions.EnvCommand:
		for _, kv := range c.Env {
			cfg.Env = setEnv(cfg.Env, kv.Key, kv.Value)
		}
		st.history("ENV " + kvString(c.Env))
	case *instructions.ArgCommand:
		for _, kv := range c.Args {
			v, declared := "", false
			if kv.Value != nil {
				v, declared = *kv.Value, true
			}
			if mv, ok := r.meta[kv.Key]; ok && !declared {
				v = mv
			}
			if bv, ok := r.buildArg(kv.Key); ok {
				v = bv
			}
			st.args[kv.Key] = v
		}
		st.history(text)
	case *instructions.LabelCommand:
		if cfg.Labels == nil {
			cfg.Labels = map[string]string{}
		}
		for _, kv := range c.Labels {
			cfg.Labels[kv.Key] = kv.Value
		}
		st.history("LABEL " + kvString(c.Labels))
	case *instructions.MaintainerCommand:
		st.file.Author = c.Maintainer
		st.history(text)
	case *instructions.WorkdirCommand:
		p := c.Path
		if !path.IsAbs(p) {
			p = path.Join("/", cfg.WorkingDir, p)
		}
		cfg.WorkingDir = path.Clean(p)
		st.history("WORKDIR " + cfg.WorkingDir)
	case *instructions.UserCommand:
		cfg.User = c.User
		st.history("USER " + c.User)
	case *instructions.ExposeCommand:
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts = map[string]struct{}{}
		}
		ex := r.expander(st)
		var ports []string
		for _, p := range c.Ports {
			p, err := ex(p)
			if err != nil {
				return err
			}
			if !strings.Contains(p, "/") {
				p += "/tcp"
			}
			cfg.ExposedPorts[p] = struct{}{}
			ports = append(ports, p)
		}
		st.history("EXPOSE " + strings.Join(ports, " "))
	case *instructions.VolumeCommand:
		if cfg.Volumes == nil {
			cfg.Volumes = map[string]struct{}{}
		}
		for _, v := range c.Volumes {
			if v == "" {
				return fmt.Errorf("VOLUME with an empty path: %w", errdefs.ErrInvalidArgument)
			}
			cfg.Volumes[v] = struct{}{}
		}
		st.history("VOLUME " + fmt.Sprint(c.Volumes))
	case *instructions.StopSignalCommand:
		cfg.StopSignal = c.Signal
		st.history("STOPSIGNAL " + c.Signal)
	case *instructions.ShellCommand:
		cfg.Shell = slices.Clone(c.Shell)
		st.history(text)
	case *instructions.CmdCommand:
		cfg.Cmd = r.withShell(st, c.ShellDependantCmdLine)
		st.history("CMD " + jsonString(cfg.Cmd))
	case *instructions.EntrypointCommand:
		cfg.Entrypoint = r.withShell(st, c.ShellDependantCmdLine)
		if len(cfg.Entrypoint) == 0 {
			cfg.Entrypoint = nil
		}
		// An ENTRYPOINT resets the CMD inherited from the base, as docker does.
		cfg.Cmd = nil
		st.history("ENTRYPOINT " + jsonString(cfg.Entrypoint))
	case *instructions.HealthCheckCommand:
		h := c.Health
		cfg.Healthcheck = &image.HealthConfig{
			Test: h.Test, Interval: h.Interval, Timeout: h.Timeout,
			StartPeriod: h.StartPeriod, StartInterval: h.StartInterval, Retries: h.Retries,
		}
		st.history("HEALTHCHECK " + jsonString(h.Test))
	case *instructions.OnbuildCommand:
		cfg.OnBuild = append(cfg.OnBuild, c.Expression)
		st.history(text)
	case *instructions.RunCommand:
		cached, err = r.runStep(ctx, i, st, c)
	case *instructions.CopyCommand:
		cached, err = r.copyStep(ctx, i, st, copyArgs{
			cmd: "COPY", sad: c.SourcesAndDest, from: c.From, chown: c.Chown, chmod: c.Chmod,
		})
	case *instructions.AddCommand:
		cached, err = r.copyStep(ctx, i, st, copyArgs{
			cmd: "ADD", sad: c.SourcesAndDest, chown: c.Chown, chmod: c.Chmod, unpack: c.Unpack == nil || *c.Unpack,
		})
	default:
		err = fmt.Errorf("instruction %s is not supported: %w", c.Name(), errdefs.ErrNotImplemented)
	}
	if err != nil {
		return err
	}
	r.progress(Event{Kind: StepDone, Step: r.step, Stage: r.stageName(i), Instruction: text, Cached: cached, Duration: time.Since(start)})
	return nil
}

// withShell returns a command line in exec form, prefixing the shell for
// the shell form.
func (r *run) withShell(st *state, c instructions.ShellDependantCmdLine) []string {
	if !c.PrependShell {
		return slices.Clone(c.CmdLine)
	}
	sh := st.file.Config.Shell
	if len(sh) == 0 {
		sh = defaultShell
	}
	return append(slices.Clone(sh), strings.Join(c.CmdLine, " "))
}

func setEnv(env []string, k, v string) []string {
	for i, e := range env {
		if ek, _, _ := strings.Cut(e, "="); ek == k {
			env[i] = k + "=" + v
			return env
		}
	}
	return append(env, k+"="+v)
}

func kvString(kvs instructions.KeyValuePairs) string {
	var parts []string
	for _, kv := range kvs {
		parts = append(parts, kv.Key+"="+kv.Value)
	}
	return strings.Join(parts, " ")
}

func jsonString(v []string) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// cmdText is the instruction as written.
func cmdText(c instructions.Command) string {
	if s, ok := c.(fmt.Stringer); ok {
		return s.String()
	}
	return strings.ToUpper(c.Name())
}
