//go:build !stackdaemon

package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/image"
	"github.com/stack-dev/stack/image/build"
	"github.com/stack-dev/stack/image/overlay"
	"github.com/stack-dev/stack/internal/errdefs"
)

// builderLinked: this binary holds the builder, so it can be its own
// daemon's build worker (stack-daemon, -tags stackdaemon, cannot).
const builderLinked = true

// buildWorkerMain is the build worker (buildproc_linux.go): it builds what
// the daemon sends on stdin and exits.
func buildWorkerMain() {
	// A daemon that died must not kill us on our next write (SIGPIPE)
	// before we unmount our steps: writes fail with EPIPE instead.
	signal.Ignore(syscall.SIGPIPE)
	if err := serveBuild(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "stack build worker: %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// serveBuild runs one build for the daemon at the other end of in and
// out.
func serveBuild(in io.Reader, out io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	dec := json.NewDecoder(in)
	var first daemonMsg
	if err := dec.Decode(&first); err != nil {
		return fmt.Errorf("read the daemon's request: %w", err)
	}
	w := &buildWorker{enc: json.NewEncoder(out), pending: map[int]*pendingStep{}}
	st := first.Start
	if st == nil || st.Protocol != buildWorkerProtocol {
		protocol := 0
		if st != nil {
			protocol = st.Protocol
		}
		err := fmt.Errorf("the daemon speaks build protocol %d and this builder %d: restart the daemon after an upgrade (stack daemon): %w", protocol, buildWorkerProtocol, errdefs.ErrFailedPrecondition)
		return w.send(workerMsg{Error: api.ErrorFrame(err)})
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go w.readAnswers(dec, cancel)
	done, err := w.build(ctx, st)
	if err != nil {
		return w.send(workerMsg{Error: api.ErrorFrame(err)})
	}
	return w.send(workerMsg{Done: &done})
}

// buildWorker is the worker's side: the builder's Executor and Pull, as
// requests to the daemon.
type buildWorker struct {
	mu      sync.Mutex
	enc     *json.Encoder
	seq     int
	pending map[int]*pendingStep
	gone    bool // the daemon closed our stdin
}

// pendingStep is a request the daemon has not answered yet.
type pendingStep struct {
	answer chan daemonMsg
	outMu  sync.Mutex
	out    io.Writer // a step's output goes here; nil once given up on
}

// write passes output of the step on, unless its request was given up on.
func (p *pendingStep) write(s string) {
	p.outMu.Lock()
	defer p.outMu.Unlock()
	if p.out != nil {
		io.WriteString(p.out, s)
	}
}

func (w *buildWorker) send(m workerMsg) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.enc.Encode(m)
}

func (w *buildWorker) build(ctx context.Context, st *buildStart) (api.BuildEvent, error) {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	store, err := image.NewStore(filepath.Join(st.StateRoot, imageDir))
	if err != nil {
		return api.BuildEvent{}, err
	}
	storage, err := overlay.New(overlay.Config{Root: filepath.Join(st.StateRoot, storageDir), Driver: st.Storage, Logger: log})
	if err != nil {
		return api.BuildEvent{}, err
	}
	b, err := build.New(build.Options{
		Store: store, Storage: buildStorage{storage}, Executor: w, Pull: w.pull,
		Root: filepath.Join(st.StateRoot, buildDir), WorkDir: st.WorkDir,
	})
	if err != nil {
		return api.BuildEvent{}, err
	}
	req := st.Request
	res, err := b.Build(ctx, build.Request{
		ContextDir: req.Context, Dockerfile: req.Dockerfile, DockerfileInline: req.DockerfileInline,
		Args: req.Args, Env: req.Env, Target: req.Target, Tags: req.Tags, Labels: req.Labels, NoCache: req.NoCache,
		Pull: req.Pull,
		Progress: func(e build.Event) {
			w.send(workerMsg{Event: &api.BuildEvent{
				Kind: e.Kind.String(), Step: e.Step, Total: e.Total, Stage: e.Stage, Instruction: e.Instruction,
				Cached: e.Cached, Duration: e.Duration, Output: e.Output,
			}})
		},
	})
	if err != nil {
		return api.BuildEvent{}, err
	}
	sum := imageSummary(res.Image)
	return api.BuildEvent{Image: &sum, Steps: res.Steps, CachedSteps: res.CachedSteps}, nil
}

// Run asks the daemon to run a RUN step.
func (w *buildWorker) Run(ctx context.Context, rs build.RunSpec) error {
	a, err := w.request(ctx, workerMsg{Run: &buildStep{
		Rootfs: rs.Rootfs, Args: rs.Args, Env: rs.Env, User: rs.User, WorkDir: rs.WorkDir,
	}}, rs.Output)
	if err != nil {
		return err
	}
	if a.ExitCode != 0 {
		return &build.ExitError{Code: a.ExitCode}
	}
	return nil
}

// pull asks the daemon to pull ref.
func (w *buildWorker) pull(ctx context.Context, ref string) error {
	_, err := w.request(ctx, workerMsg{Pull: ref}, io.Discard)
	return err
}

// request sends m and waits for its answer.
func (w *buildWorker) request(ctx context.Context, m workerMsg, out io.Writer) (daemonMsg, error) {
	p := &pendingStep{answer: make(chan daemonMsg, 1), out: out}
	w.mu.Lock()
	if w.gone {
		w.mu.Unlock()
		return daemonMsg{}, errWorkerGone
	}
	w.seq++
	m.Seq = w.seq
	w.pending[m.Seq] = p
	err := w.enc.Encode(m)
	w.mu.Unlock()
	if err != nil {
		return daemonMsg{}, err
	}
	select {
	case a := <-p.answer:
		if a.Error != nil {
			return a, api.ParseErrorFrame(a.Error)
		}
		return a, nil
	case <-ctx.Done():
		// The step is over for the builder: output the daemon still
		// sends for it must not reach a writer it has let go of, nor
		// be written while the builder reads it.
		w.mu.Lock()
		delete(w.pending, m.Seq)
		w.mu.Unlock()
		p.outMu.Lock()
		p.out = nil
		p.outMu.Unlock()
		return daemonMsg{}, ctx.Err()
	}
}

// readAnswers delivers the daemon's messages to their requests until its
// end of the pipe closes, and then cancels the build.
func (w *buildWorker) readAnswers(dec *json.Decoder, cancel context.CancelFunc) {
	defer cancel()
	for {
		var m daemonMsg
		if err := dec.Decode(&m); err != nil {
			w.mu.Lock()
			w.gone = true
			w.mu.Unlock()
			return
		}
		w.mu.Lock()
		p := w.pending[m.Seq]
		if m.Done {
			delete(w.pending, m.Seq)
		}
		w.mu.Unlock()
		switch {
		case p == nil:
		case m.Done:
			p.answer <- m
		case m.Output != "":
			p.write(m.Output)
		}
	}
}

// buildStorage gives the builder the storage driver and the documented
// overlay layout, where dir/upper holds a mount's changes.
type buildStorage struct{ overlay.Driver }

func (s buildStorage) UpperDir(dir string) (string, error) {
	if s.Name() != overlay.NameOverlay {
		return "", fmt.Errorf("keep build layers with the %s storage driver: %w", s.Name(), errdefs.ErrNotImplemented)
	}
	return filepath.Join(dir, "upper"), nil
}
