package runtime

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// A container without a terminal writes its stdout and stderr into two
// named pipes of its state directory, which it holds open read-write, and
// the shim logs what comes through. Three things make sure nothing is
// lost to a dead shim:
//
//   - The container's own ends count as readers, so after the shim died
//     its writes do not fail with EPIPE: they fill the pipe (1 MiB) and
//     then wait.
//   - The Manager (the daemon) holds a read end of each pipe too, which it
//     never reads from but when it recovers the container; so what is in
//     a pipe stays there when the container exits after its shim died
//     (a pipe's content goes with its last open end).
//   - The shim does not take data out of a pipe until it has logged it: it
//     copies what is there with tee(2), logs the copy, and only then reads
//     it out. A kill between the two leaves the data in the pipe, and the
//     recovery logs it again (one batch may be logged twice, never lost).
//
// Whoever recovers the container (Manager.recover) reads the rest from the
// pipes by their names. The pipes also keep the back-pressure of pipes: a
// container that prints faster than its log is written waits.
const (
	stdoutPipe = "stdout"
	stderrPipe = "stderr"
)

var outputStreams = [2]struct{ name, pipe string }{{"stdout", stdoutPipe}, {"stderr", stderrPipe}}

// pipeSize is the buffer of the output pipes: 1 MiB, or the host's
// pipe-max-size when lower.
func pipeSize() int {
	size := 1 << 20
	if b, err := os.ReadFile("/proc/sys/fs/pipe-max-size"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n < size {
			size = n
		}
	}
	return size
}

// createOutputs makes the output pipes of a container in dir and returns,
// for each stream, the end the container writes to (read-write) and the
// shim's read end (non-blocking).
func createOutputs(dir string) (w, r [2]*os.File, err error) {
	closeAll := func() {
		for _, f := range append(w[:], r[:]...) {
			if f != nil {
				f.Close()
			}
		}
	}
	size := pipeSize()
	for i, s := range outputStreams {
		path := filepath.Join(dir, s.pipe)
		os.Remove(path)
		if err := unix.Mkfifo(path, 0o600); err != nil {
			closeAll()
			return w, r, &os.PathError{Op: "mkfifo", Path: path, Err: err}
		}
		if w[i], err = os.OpenFile(path, os.O_RDWR, 0); err != nil {
			closeAll()
			return w, r, err
		}
		if r[i], err = os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK, 0); err != nil {
			closeAll()
			return w, r, err
		}
		unix.FcntlInt(w[i].Fd(), unix.F_SETPIPE_SZ, size)
	}
	return w, r, nil
}

// openOutputs opens read ends of the output pipes of the container in
// dir: the ones the Manager keeps, and the ones recovery reads.
func openOutputs(dir string) ([2]*os.File, error) {
	var out [2]*os.File
	for i, s := range outputStreams {
		f, err := os.OpenFile(filepath.Join(dir, s.pipe), os.O_RDONLY|unix.O_NONBLOCK, 0)
		if err != nil {
			if out[0] != nil {
				out[0].Close()
			}
			return out, err
		}
		out[i] = f
	}
	return out, nil
}

// lineWriter turns a stream's bytes into log entries: whole lines, and
// pieces of MaxLogLine bytes of longer ones. An entry the log refuses (a
// full disk) is dropped rather than left to stop the container, which
// would block on its output: the next entry the log takes is preceded by
// one that says how much was lost.
type lineWriter struct {
	stream  string
	sink    *logSink
	pending []byte // the start of an unfinished line
	lost    int    // bytes dropped since the log last took an entry
	lostErr error
}

// entry writes one entry, or counts it lost.
func (l *lineWriter) entry(b []byte) {
	if l.lost > 0 {
		note := fmt.Sprintf("stack: %d bytes of output are lost: the log could not be written: %v\n", l.lost, l.lostErr)
		if l.sink.write(l.stream, []byte(note)) != nil {
			l.lost += len(b)
			return
		}
		l.lost = 0
	}
	if err := l.sink.write(l.stream, b); err != nil {
		l.lost += len(b)
		l.lostErr = err
	}
}

func (l *lineWriter) write(b []byte) error {
	data := append(l.pending, b...)
	start := 0
	for start < len(data) {
		end := start
		for end < len(data) && data[end] != '\n' && end-start < MaxLogLine {
			end++
		}
		switch {
		case end < len(data) && data[end] == '\n':
			end++
		case end-start < MaxLogLine:
			l.pending = append(l.pending[:0], data[start:]...)
			return nil
		}
		l.entry(data[start:end])
		start = end
	}
	l.pending = l.pending[:0]
	return nil
}

// flush logs an unfinished line: the stream has ended.
func (l *lineWriter) flush() error {
	if len(l.pending) > 0 {
		l.entry(l.pending)
		l.pending = l.pending[:0]
	}
	if l.lost > 0 {
		return fmt.Errorf("%d bytes of %s lost: %w", l.lost, l.stream, l.lostErr)
	}
	return nil
}

// followPipe logs what comes through the output pipe r until no writer is
// left (the container's processes are gone). It logs a copy of what the
// pipe holds (tee(2)) before it takes it out, so a kill at any moment
// leaves in the pipe whatever is not logged yet.
func followPipe(r *os.File, lw *lineWriter) error {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return os.NewSyscallError("pipe2", err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	size := pipeSize()
	unix.FcntlInt(uintptr(p[1]), unix.F_SETPIPE_SZ, size)
	rc, err := r.SyscallConn()
	if err != nil {
		return err
	}
	buf := make([]byte, size)
	for {
		var n int64
		var teeErr error
		if err := rc.Read(func(fd uintptr) bool {
			n, teeErr = unix.Tee(int(fd), p[1], size, unix.SPLICE_F_NONBLOCK)
			return teeErr != unix.EAGAIN
		}); err != nil {
			return err
		}
		if teeErr == unix.EINTR {
			continue
		}
		if teeErr != nil {
			return os.NewSyscallError("tee", teeErr)
		}
		if n == 0 {
			return lw.flush() // no writer left
		}
		if err := readFull(p[0], buf[:n]); err != nil {
			return err
		}
		if err := lw.write(buf[:n]); err != nil {
			return err
		}
		// Logged: now take it out of the pipe.
		if err := discard(rc, int(n), buf); err != nil {
			return err
		}
	}
}

// readFull reads len(b) bytes from the blocking fd.
func readFull(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Read(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return os.NewSyscallError("read", err)
		}
		if n == 0 {
			return io.ErrUnexpectedEOF
		}
		b = b[n:]
	}
	return nil
}

// discard reads n bytes out of the pipe behind rc.
func discard(rc syscall.RawConn, n int, buf []byte) error {
	for n > 0 {
		var got int
		var rerr error
		if err := rc.Read(func(fd uintptr) bool {
			got, rerr = unix.Read(int(fd), buf[:n])
			return rerr != unix.EAGAIN
		}); err != nil {
			return err
		}
		if rerr == unix.EINTR {
			continue
		}
		if rerr != nil {
			return os.NewSyscallError("read", rerr)
		}
		if got == 0 {
			return errors.New("output pipe emptied by someone else")
		}
		n -= got
	}
	return nil
}

// drainPipe logs what the non-blocking pipe r holds now.
func drainPipe(r *os.File, lw *lineWriter) error {
	buf := make([]byte, 64<<10)
	for {
		n, err := unix.Read(int(r.Fd()), buf)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN || err == nil && n == 0:
			return nil
		case err != nil:
			return os.NewSyscallError("read", err)
		}
		if err := lw.write(buf[:n]); err != nil {
			return err
		}
	}
}

// heldOutputs are the read ends of containers' output pipes the Manager
// keeps open (see the comment at the top).
type heldOutputs struct {
	mu  sync.Mutex
	fds map[string][2]*os.File
}

// hold opens and keeps read ends of the output pipes of container id in
// dir, unless it holds them already or the container has none.
func (h *heldOutputs) hold(id, dir string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.fds[id]; ok {
		return
	}
	fds, err := openOutputs(dir)
	if err != nil {
		return
	}
	if h.fds == nil {
		h.fds = map[string][2]*os.File{}
	}
	h.fds[id] = fds
}

// release closes what hold opened for id.
func (h *heldOutputs) release(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, f := range h.fds[id] {
		f.Close()
	}
	delete(h.fds, id)
}
