package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/image/overlay"
	"github.com/stack-dev/stack/internal/errdefs"
)

// A build runs in a worker process: the stack binary started with
// buildWorkerArg. The two speak JSON, one value per line, on the worker's
// stdin (the daemon's messages) and stdout (the worker's); its stderr is
// its log. The daemon sends the start; the worker sends the build's
// events, asks for RUN steps and pulls, each with a number its answer
// repeats, and ends with the image or the error. A worker whose stdin
// closes (the client went away, the daemon died) cancels its build,
// unmounts what it mounted and exits.
const (
	buildWorkerArg = "build-worker"
	buildWorkerEnv = "STACK_BUILD_WORKER"
	// buildWorkerProtocol changes with any change to the messages, so
	// that a worker of another build (stack upgraded under a running
	// daemon) refuses the work instead of misreading it.
	buildWorkerProtocol = 1
	// buildWorkersDir, under the builder's root, holds a directory per
	// running worker for the mounts of its steps.
	buildWorkersDir = "workers"
	// legacyBuildWorkDir, under the builder's root, is where a daemon of
	// a release that built in-process mounted its steps.
	legacyBuildWorkDir = "work"
	// buildWorkerGrace is how long a worker whose build was cancelled has
	// to unmount its steps before it is killed.
	buildWorkerGrace = 30 * time.Second
)

// isBuildWorker tells whether this process was started as a build worker.
func isBuildWorker() bool {
	return len(os.Args) > 1 && os.Args[1] == buildWorkerArg && os.Getenv(buildWorkerEnv) != ""
}

// buildStart is the daemon's first message: what to build, and where.
type buildStart struct {
	Protocol  int              `json:"protocol"`
	Request   api.BuildRequest `json:"request"`
	StateRoot string           `json:"stateRoot"`
	// Storage is the daemon's storage driver: steps are mounted as the
	// daemon mounts containers.
	Storage string `json:"storage"`
	// WorkDir is the worker's own directory for the mounts of its steps;
	// the daemon removes what is left in it when the worker is gone.
	WorkDir string `json:"workDir"`
}

// buildStep is a RUN step the worker asks the daemon to run on Rootfs.
type buildStep struct {
	Rootfs  string   `json:"rootfs"`
	Args    []string `json:"args"`
	Env     []string `json:"env"`
	User    string   `json:"user,omitempty"`
	WorkDir string   `json:"workDir"`
}

// workerMsg is a line from the worker: one of an event, a request (Run
// or Pull, numbered by Seq), the result (Done) or the build's error.
type workerMsg struct {
	Seq   int             `json:"seq,omitempty"`
	Event *api.BuildEvent `json:"event,omitempty"`
	Run   *buildStep      `json:"run,omitempty"`
	Pull  string          `json:"pull,omitempty"`
	Done  *api.BuildEvent `json:"done,omitempty"`
	Error json.RawMessage `json:"error,omitempty"` // an api.ErrorFrame
}

// daemonMsg is a line from the daemon: the start, then output of the
// step Seq, and the answer to request Seq (Done, with the step's exit
// code or the request's error).
type daemonMsg struct {
	Start    *buildStart     `json:"start,omitempty"`
	Seq      int             `json:"seq,omitempty"`
	Output   string          `json:"output,omitempty"`
	Done     bool            `json:"done,omitempty"`
	ExitCode int             `json:"exitCode,omitempty"`
	Error    json.RawMessage `json:"error,omitempty"` // an api.ErrorFrame
}

// runBuildWorker builds req in a worker process, running the steps it
// asks for with steps and passing its events to emit.
func (d *Daemon) runBuildWorker(ctx context.Context, req api.BuildRequest, storage overlay.Driver, steps *buildExecutor, emit func(api.BuildEvent)) (api.BuildEvent, error) {
	bin, err := d.buildBinary()
	if err != nil {
		return api.BuildEvent{}, err
	}
	workers := filepath.Join(d.cfg.StateRoot, buildDir, buildWorkersDir)
	if err := os.MkdirAll(workers, 0o700); err != nil {
		return api.BuildEvent{}, err
	}
	work, err := os.MkdirTemp(workers, "w-")
	if err != nil {
		return api.BuildEvent{}, err
	}
	defer d.removeBuildWork(storage, work)

	// A worker that is gone or cancelled stops what it asked for.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.Command(bin, buildWorkerArg)
	cmd.Env = append(os.Environ(), buildWorkerEnv+"=1")
	stderr := &workerLog{d: d}
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return api.BuildEvent{}, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return api.BuildEvent{}, err
	}
	if err := cmd.Start(); err != nil {
		return api.BuildEvent{}, fmt.Errorf("start the builder %s: %w", bin, err)
	}
	conn := &workerConn{enc: json.NewEncoder(stdin), stdin: stdin}
	// The client going away closes the worker's stdin: it cancels the
	// build and cleans up; one that does not within the grace is killed.
	stopped := make(chan struct{})
	defer close(stopped)
	go func() {
		select {
		case <-ctx.Done():
			conn.close()
			select {
			case <-time.After(buildWorkerGrace):
				cmd.Process.Signal(syscall.SIGKILL)
			case <-stopped:
			}
		case <-stopped:
		}
	}()
	// A worker that fails to read this says why on stderr, and the read
	// below ends.
	conn.send(daemonMsg{Start: &buildStart{
		Protocol: buildWorkerProtocol, Request: req, StateRoot: d.cfg.StateRoot, Storage: storage.Name(), WorkDir: work,
	}})
	var (
		final    *api.BuildEvent
		buildErr error
		wg       sync.WaitGroup
		dec      = json.NewDecoder(bufio.NewReader(stdout))
	)
	for {
		var m workerMsg
		if err = dec.Decode(&m); err != nil {
			break
		}
		switch {
		case m.Event != nil:
			emit(*m.Event)
		case m.Run != nil:
			wg.Add(1)
			go func(seq int, step buildStep) {
				defer wg.Done()
				code, err := steps.Run(wctx, step, stepOutput{conn: conn, seq: seq})
				conn.answer(seq, code, err)
			}(m.Seq, *m.Run)
		case m.Pull != "":
			wg.Add(1)
			go func(seq int, ref string) {
				defer wg.Done()
				_, err := d.pullImage(wctx, ref, func(api.ImageProgress) {})
				conn.answer(seq, 0, err)
			}(m.Seq, m.Pull)
		case m.Done != nil:
			final = m.Done
		case m.Error != nil:
			buildErr = api.ParseErrorFrame(m.Error)
		}
	}
	// Whatever the worker still writes is read, so that a step sending
	// it output never blocks on a full pipe while we wait for it.
	drained := make(chan struct{})
	go func() {
		io.Copy(io.Discard, stdout)
		close(drained)
	}()
	cancel()
	conn.close()
	wg.Wait()
	<-drained
	waitErr := cmd.Wait()
	switch {
	case final != nil && waitErr == nil:
		return *final, nil
	case buildErr != nil:
		return api.BuildEvent{}, buildErr
	case ctx.Err() != nil:
		return api.BuildEvent{}, ctx.Err()
	}
	if !errors.Is(err, io.EOF) {
		return api.BuildEvent{}, fmt.Errorf("the builder's answer: %w", err)
	}
	return api.BuildEvent{}, fmt.Errorf("the builder exited without an answer (%v)%s", waitErr, stderr.lastWords())
}

// buildBinary returns the program that runs build workers.
func (d *Daemon) buildBinary() (string, error) {
	if d.cfg.BuildBinary != "" {
		return d.cfg.BuildBinary, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	if !builderLinked {
		return "", fmt.Errorf("%s runs builds from the stack binary, and there is none beside it: install stack and stack-daemon from one build: %w", exe, errdefs.ErrUnavailable)
	}
	return exe, nil
}

// removeBuildWork removes a worker's directory and what is still mounted
// in it: the steps of a worker that was killed.
func (d *Daemon) removeBuildWork(storage overlay.Driver, work string) {
	ents, _ := os.ReadDir(work)
	for _, e := range ents {
		if err := storage.Remove(filepath.Join(work, e.Name())); err != nil {
			d.log.Warn("remove a build step's root filesystem", "dir", filepath.Join(work, e.Name()), "err", err)
		}
	}
	if err := os.Remove(work); err != nil && !errors.Is(err, os.ErrNotExist) {
		d.log.Warn("remove a build worker's directory", "dir", work, "err", err)
	}
}

// sweepBuildWork removes the directories of workers a daemon that died
// left: at start, when no build runs. It also empties build/work, where a
// daemon that ran its builds itself (before they ran in workers) mounted
// their steps.
func (d *Daemon) sweepBuildWork(storage overlay.Driver) {
	workers := filepath.Join(d.cfg.StateRoot, buildDir, buildWorkersDir)
	ents, _ := os.ReadDir(workers)
	for _, e := range ents {
		d.removeBuildWork(storage, filepath.Join(workers, e.Name()))
	}
	d.removeBuildWork(storage, filepath.Join(d.cfg.StateRoot, buildDir, legacyBuildWorkDir))
}

// workerConn is the daemon's side of a worker's stdin; its messages come
// from the steps and pulls running at once.
type workerConn struct {
	mu      sync.Mutex
	enc     *json.Encoder
	stdin   io.Closer
	closing atomic.Bool
}

var errWorkerGone = errors.New("the build worker is gone")

func (c *workerConn) send(m daemonMsg) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing.Load() {
		return errWorkerGone
	}
	return c.enc.Encode(m)
}

// answer sends the end of request seq.
func (c *workerConn) answer(seq, exitCode int, err error) {
	m := daemonMsg{Seq: seq, Done: true, ExitCode: exitCode}
	if err != nil {
		m.Error = api.ErrorFrame(err)
	}
	c.send(m)
}

// close closes the worker's stdin without waiting for a send that
// blocks on a full pipe: closing the pipe ends that write.
func (c *workerConn) close() {
	if c.closing.CompareAndSwap(false, true) {
		c.stdin.Close()
	}
}

// stepOutput passes what a step writes on to its worker.
type stepOutput struct {
	conn *workerConn
	seq  int
}

func (o stepOutput) Write(p []byte) (int, error) {
	if err := o.conn.send(daemonMsg{Seq: o.seq, Output: string(p)}); err != nil {
		return 0, err
	}
	return len(p), nil
}

// workerLog logs a worker's stderr line by line and keeps the last lines
// for the error of a worker that died.
type workerLog struct {
	d       *Daemon
	mu      sync.Mutex
	partial []byte
	last    []string
}

const workerLogLines = 5

func (w *workerLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, p...)
	for {
		i := strings.IndexByte(string(w.partial), '\n')
		if i < 0 {
			break
		}
		line := string(w.partial[:i])
		w.partial = w.partial[i+1:]
		w.d.log.Info("builder", "line", line)
		if w.last = append(w.last, line); len(w.last) > workerLogLines {
			w.last = w.last[1:]
		}
	}
	return len(p), nil
}

// lastWords returns the worker's last lines of log, for an error.
func (w *workerLog) lastWords() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.last) == 0 {
		return ""
	}
	return ": " + strings.Join(w.last, "; ")
}
