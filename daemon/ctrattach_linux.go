package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/runtime"
)

// A container's output and terminal for one client: attach and the logs
// of one container, as the Docker API asks for them.

// AttachOptions say what an attach connects.
type AttachOptions struct {
	// Stdin sends the client's input to the container's terminal (only a
	// container with a terminal and OpenStdin has one).
	Stdin bool
	// Stdout and Stderr send the container's streams.
	Stdout, Stderr bool
	// Logs sends what the container wrote before the attach, first.
	Logs bool
	// Stream follows the output until the container exits.
	Stream bool
}

// Attachment is a client attached to a container: made by
// AttachContainer before the container starts, so nothing it writes is
// missed, and run by Stream.
type Attachment struct {
	d      *Daemon
	r      *record
	o      AttachOptions
	tty    bool
	term   net.Conn
	cursor *logCursor
	done   func()
}

// TTY reports whether the container has a terminal: its output is then
// one raw stream, not stdout and stderr.
func (a *Attachment) TTY() bool { return a.tty }

// AttachContainer attaches to container ref. The caller must call Stream
// (or Close).
func (d *Daemon) AttachContainer(ctx context.Context, ref string, o AttachOptions) (*Attachment, error) {
	r, err := d.findContainer(ref)
	if err != nil {
		return nil, err
	}
	_, rt, err := d.engines()
	if err != nil {
		return nil, err
	}
	a := &Attachment{d: d, r: r, o: o, tty: r.Spec != nil && r.Spec.Process != nil && r.Spec.Process.Terminal}
	if a.tty && o.Stream {
		if a.term, err = rt.Attach(ctx, r.ID); err != nil {
			return nil, fmt.Errorf("attach to %s: %w", r.Name, err)
		}
	}
	a.cursor = endOf(logFiles(r.Log))
	if o.Logs {
		a.cursor = &logCursor{}
	}
	a.done = d.attached.add(r.ID)
	d.events.publish(containerEvent(r, api.ActionAttach, ""))
	return a, nil
}

// Close ends an attachment that was not streamed.
func (a *Attachment) Close() {
	if a.term != nil {
		a.term.Close()
	}
	a.done()
}

// Stream relays the container's output to stdout and stderr (with a
// terminal, all of it to stdout) and stdin to its terminal, until the
// container exits and its output is sent, or ctx ends.
func (a *Attachment) Stream(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer) error {
	defer a.Close()
	if stdout == nil || !a.o.Stdout {
		stdout = io.Discard
	}
	if stderr == nil || !a.o.Stderr {
		stderr = io.Discard
	}
	if a.tty {
		stderr = stdout
	}
	emit := func(e runtime.LogEntry) error {
		w := stdout
		if e.Stream == "stderr" {
			w = stderr
		}
		_, err := io.WriteString(w, e.Log)
		return err
	}
	if a.term == nil {
		// Without a terminal (or without Stream): the log, as it grows.
		if !a.o.Stream {
			return a.cursor.readNew(logFiles(a.r.Log), emit)
		}
		return a.d.followLog(ctx, a.r, a.cursor, emit)
	}
	if a.o.Logs {
		if err := a.cursor.readNew(logFiles(a.r.Log), emit); err != nil {
			return err
		}
	}
	if stdin != nil && a.o.Stdin && a.r.OpenStdin {
		go io.Copy(a.term, stdin)
	}
	stop := context.AfterFunc(ctx, func() { a.term.Close() })
	defer stop()
	_, err := io.Copy(stdout, a.term)
	if err != nil && (ctx.Err() != nil || errors.Is(err, net.ErrClosed)) {
		return ctx.Err()
	}
	return err
}

// followInterval is how often a followed log is read for what it gained.
const followInterval = 20 * time.Millisecond

// followLog sends every entry of r's log after cur as it is written,
// until the container has exited (or is gone) and its log is read to the
// end, or ctx ends. A container that was created but not started yet is
// waited for.
func (d *Daemon) followLog(ctx context.Context, r *record, cur *logCursor, emit func(runtime.LogEntry) error) error {
	_, rt, err := d.engines()
	if err != nil {
		return err
	}
	ch, cancel := d.events.subscribe("")
	defer cancel()
	tick := time.NewTicker(followInterval)
	defer tick.Stop()
	for {
		st, stErr := rt.State(r.ID)
		ended := stErr != nil || st.Status == runtime.Stopped || st.Status == runtime.Unknown
		if err := cur.readNew(logFiles(r.Log), emit); err != nil {
			return err
		}
		if ended {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		case ev := <-ch:
			// A death is read at once rather than at the next tick.
			if ev.ID != r.ID || ev.Action != api.ActionDie {
				continue
			}
		}
	}
}

// ContainerLogsOptions select what ContainerLogs sends.
type ContainerLogsOptions struct {
	// Tail is the number of lines from the end; negative for all.
	Tail int
	// Since and Until bound the entries' times. Optional.
	Since, Until time.Time
	// Follow keeps sending until the container exits.
	Follow bool
}

// ContainerLogs sends the entries of container ref's log to emit, in
// order, and with Follow every new one until the container exits.
func (d *Daemon) ContainerLogs(ctx context.Context, ref string, o ContainerLogsOptions, emit func(api.LogLine) error) error {
	r, err := d.findContainer(ref)
	if err != nil {
		return err
	}
	if r.Log.Path == "" {
		return fmt.Errorf("container %s has no log: %w", r.Name, errdefs.ErrNotFound)
	}
	bounded := func(e runtime.LogEntry) error {
		if !o.Since.IsZero() && e.Time.Before(o.Since) || !o.Until.IsZero() && e.Time.After(o.Until) {
			return nil
		}
		return emit(logLine(r, e))
	}
	files := logFiles(r.Log)
	cur := endOf(files)
	if o.Tail >= 0 {
		entries, err := tailEntries(files, o.Tail, o.Since)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if err := bounded(e); err != nil {
				return err
			}
		}
	} else {
		s := &entryStream{rec: r, files: files, since: o.Since}
		err := mergeStreams([]*entryStream{s}, func(l api.LogLine) error {
			return bounded(runtime.LogEntry{Log: l.Line, Stream: l.Stream, Time: l.Time})
		})
		if err != nil {
			return err
		}
	}
	if !o.Follow || !o.Until.IsZero() && o.Until.Before(time.Now()) {
		return nil
	}
	return d.followLog(ctx, r, cur, bounded)
}
