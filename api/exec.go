package api

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"

	"github.com/stack-dev/stack/internal/errdefs"
)

// ExecRequest runs a command in a running container of a project's
// service, as `stack exec` does.
type ExecRequest struct {
	Service string `json:"service"`
	// Index picks the replica (1-based); 0 means the first running one.
	Index   int      `json:"index,omitempty"`
	Cmd     []string `json:"cmd"`
	Tty     bool     `json:"tty,omitempty"`
	Stdin   bool     `json:"stdin,omitempty"`
	User    string   `json:"user,omitempty"`
	Workdir string   `json:"workdir,omitempty"`
	// Env adds KEY=VALUE entries to the container's environment.
	Env []string `json:"env,omitempty"`
	// Width and Height are the terminal's first size, with Tty.
	Width  uint16 `json:"width,omitempty"`
	Height uint16 `json:"height,omitempty"`
	// Detach starts the command and answers an ExecResult at once,
	// without taking the connection over (exec -d).
	Detach bool `json:"detach,omitempty"`
}

// ExecResult answers a detached exec.
type ExecResult struct {
	Container string `json:"container"`
}

// ExecDetached starts req (with Detach set) and returns once it runs.
func (c *Client) ExecDetached(ctx context.Context, project string, req ExecRequest) (ExecResult, error) {
	req.Detach = true
	var res ExecResult
	err := c.Do(ctx, "POST", "/projects/"+project+"/exec", req, &res)
	return res, err
}

// An exec's streams travel over one upgraded connection as frames: a kind
// byte, a big-endian uint32 length and the payload. One connection carries
// stdin, stdout, stderr, terminal resizes and the exit code, so a remote
// client needs nothing more than the request it made.
const (
	FrameStdin      byte = 0
	FrameStdout     byte = 1
	FrameStderr     byte = 2
	FrameResize     byte = 3 // payload: width, height as uint16
	FrameExit       byte = 4 // payload: exit code as int32
	FrameCloseStdin byte = 5
	FrameError      byte = 6 // payload: a message; the exec failed
)

// ExecUpgrade is the protocol name of an exec connection.
const ExecUpgrade = "stack-exec"

// maxFrame bounds a frame so a broken peer cannot make us allocate much.
const maxFrame = 1 << 20

// FrameConn reads and writes frames; writes are safe for concurrent use.
type FrameConn struct {
	r  *bufio.Reader
	w  io.Writer
	mu sync.Mutex
	c  io.Closer
}

// NewFrameConn frames the stream rw; r, when not nil, is a reader holding
// bytes of rw already buffered.
func NewFrameConn(rw io.ReadWriteCloser, r *bufio.Reader) *FrameConn {
	if r == nil {
		r = bufio.NewReader(rw)
	}
	return &FrameConn{r: r, w: rw, c: rw}
}

// Write sends one frame.
func (f *FrameConn) Write(kind byte, payload []byte) error {
	var hdr [5]byte
	hdr[0] = kind
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(payload)))
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := f.w.Write(payload)
	return err
}

// Read receives one frame.
func (f *FrameConn) Read() (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(f.r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > maxFrame {
		return 0, nil, fmt.Errorf("exec frame of %d bytes: %w", n, errdefs.ErrInvalidArgument)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(f.r, buf); err != nil {
		return 0, nil, err
	}
	return hdr[0], buf, nil
}

// Close closes the connection.
func (f *FrameConn) Close() error { return f.c.Close() }

// Resize encodes a terminal size for a FrameResize.
func Resize(width, height uint16) []byte {
	b := make([]byte, 4)
	binary.BigEndian.PutUint16(b, width)
	binary.BigEndian.PutUint16(b[2:], height)
	return b
}

// ParseResize decodes a FrameResize payload.
func ParseResize(b []byte) (width, height uint16, ok bool) {
	if len(b) != 4 {
		return 0, 0, false
	}
	return binary.BigEndian.Uint16(b), binary.BigEndian.Uint16(b[2:]), true
}

// ExitPayload encodes an exit code for a FrameExit.
func ExitPayload(code int) []byte {
	b := make([]byte, 4)
	binary.BigEndian.PutUint32(b, uint32(int32(code)))
	return b
}

// ParseExit decodes a FrameExit payload.
func ParseExit(b []byte) int {
	if len(b) != 4 {
		return -1
	}
	return int(int32(binary.BigEndian.Uint32(b)))
}

// Exec starts req in project and returns the framed connection to it. The
// daemon answers an error before the upgrade as usual (unknown service, no
// running container); afterwards errors come as FrameError.
func (c *Client) Exec(ctx context.Context, project string, req ExecRequest) (*FrameConn, error) {
	return c.upgrade(ctx, "/projects/"+project+"/exec", req)
}

// upgrade sends a request whose answer takes the connection over for
// frames (exec, run).
func (c *Client) upgrade(ctx context.Context, path string, req any) (*FrameConn, error) {
	conn, err := c.dialRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the stack daemon at %s: %w: %w", c.host, unwrapDial(err), errdefs.ErrUnavailable)
	}
	body, err := json.Marshal(req)
	if err != nil {
		conn.Close()
		return nil, err
	}
	hreq, err := http.NewRequestWithContext(ctx, "POST", c.base+"/v"+Version+path, nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Connection", "Upgrade")
	hreq.Header.Set("Upgrade", ExecUpgrade)
	hreq.ContentLength = int64(len(body))
	hreq.Body = io.NopCloser(bytes.NewReader(body))
	if err := hreq.Write(conn); err != nil {
		conn.Close()
		return nil, fmt.Errorf("send request: %w", err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, hreq)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer conn.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if resp.StatusCode < 300 {
			return nil, errors.New("the daemon did not switch protocols")
		}
		return nil, FromHTTP(resp.StatusCode, data)
	}
	return NewFrameConn(conn, br), nil
}

// dialRaw opens a connection to the daemon outside the HTTP client, for
// requests that take the connection over.
func (c *Client) dialRaw(ctx context.Context) (net.Conn, error) {
	tr := c.hc.Transport.(*http.Transport)
	if tr.TLSClientConfig != nil {
		d := tls.Dialer{Config: tr.TLSClientConfig}
		return d.DialContext(ctx, "tcp", c.base[len("https://"):])
	}
	return tr.DialContext(ctx, "unix", "")
}
