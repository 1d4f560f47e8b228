package runtime

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/stack-dev/stack/internal/linux"
)

// openConsole allocates a pseudo-terminal from the container's devpts
// (so the process sees /dev/pts/N of its own instance), makes the slave
// the calling process's controlling terminal and its stdin, stdout and
// stderr, and returns the master for the shim. The caller is a session
// leader (the shim starts the init with setsid).
func openConsole(p *specs.Process) (*os.File, error) {
	master, err := linux.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*os.File, error) {
		master.Close()
		return nil, err
	}
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		return fail(os.NewSyscallError("ioctl TIOCSPTLCK", err))
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		return fail(os.NewSyscallError("ioctl TIOCGPTN", err))
	}
	slavePath := "/dev/pts/" + strconv.Itoa(n)
	slave, err := linux.Open(slavePath, unix.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return fail(err)
	}
	defer slave.Close()
	if err := unix.Fchown(int(slave.Fd()), int(p.User.UID), -1); err != nil {
		return fail(&os.PathError{Op: "fchown", Path: slavePath, Err: err})
	}
	if cs := p.ConsoleSize; cs != nil {
		ws := &unix.Winsize{Row: uint16(cs.Height), Col: uint16(cs.Width)}
		if err := unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, ws); err != nil {
			return fail(os.NewSyscallError("ioctl TIOCSWINSZ", err))
		}
	}
	for fd := 0; fd < 3; fd++ {
		if err := unix.Dup3(int(slave.Fd()), fd, 0); err != nil {
			return fail(os.NewSyscallError("dup3", err))
		}
	}
	if err := unix.IoctlSetInt(0, unix.TIOCSCTTY, 0); err != nil {
		return fail(os.NewSyscallError("ioctl TIOCSCTTY", err))
	}
	return master, nil
}

// sendFile passes f over the unix socket conn with SCM_RIGHTS, attached to
// a single byte so that a stream reader takes exactly that byte with it.
func sendFile(conn *os.File, f *os.File) error {
	return unix.Sendmsg(int(conn.Fd()), []byte{'F'}, unix.UnixRights(int(f.Fd())), nil, 0)
}

// recvFile receives a file sent by sendFile.
func recvFile(conn *os.File, name string) (*os.File, error) {
	buf := make([]byte, 1)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(int(conn.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("recvmsg", err)
	}
	if n != 1 {
		return nil, io.EOF
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("receive %s: no file", name)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil, fmt.Errorf("receive %s: no file", name)
	}
	return os.NewFile(uintptr(fds[0]), name), nil
}

// console is the shim's side of a container's terminal: it copies the
// master's output to the log and to every attached client, and clients'
// input to the master.
type console struct {
	master *os.File
	mu     sync.Mutex
	subs   map[net.Conn]struct{}
}

func newConsole(master *os.File) *console {
	return &console{master: master, subs: map[net.Conn]struct{}{}}
}

// copyOut runs until the terminal closes (read returns EIO once the last
// process holding the slave has exited).
func (c *console) copyOut(sink *logSink) {
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		sink.copyStream("stdout", pr)
		close(done)
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := c.master.Read(buf)
		if n > 0 {
			pw.Write(buf[:n])
			c.broadcast(buf[:n])
		}
		if err != nil {
			break
		}
	}
	pw.Close()
	<-done
}

func (c *console) broadcast(b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for conn := range c.subs {
		conn.SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := conn.Write(b); err != nil {
			conn.Close()
			delete(c.subs, conn)
		}
	}
}

// attach connects conn to the terminal until either side closes; pending
// holds input the request decoder had already read.
func (c *console) attach(conn net.Conn, pending io.Reader) {
	c.mu.Lock()
	c.subs[conn] = struct{}{}
	c.mu.Unlock()
	io.Copy(c.master, io.MultiReader(pending, conn))
	c.mu.Lock()
	delete(c.subs, conn)
	c.mu.Unlock()
}

func (c *console) resize(width, height uint16) error {
	ws := &unix.Winsize{Row: height, Col: width}
	return os.NewSyscallError("ioctl TIOCSWINSZ", unix.IoctlSetWinsize(int(c.master.Fd()), unix.TIOCSWINSZ, ws))
}

// closeAll ends every attached client.
func (c *console) closeAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for conn := range c.subs {
		conn.Close()
	}
}

var errNoTerminal = errors.New("container has no terminal")
