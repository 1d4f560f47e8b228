package api

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/stack-dev/stack/internal/errdefs"
)

// DefaultHost is where the daemon listens unless told otherwise.
const DefaultHost = "unix:///run/stack/stack.sock"

// Client talks to a daemon. It is safe for concurrent use.
type Client struct {
	hc   *http.Client
	base string
	host string
	// Revive, when set, is called once when a request got no answer
	// because the daemon went away under it (the connection was refused,
	// reset or cut before the answer began: a daemon that crashed or is
	// exiting); when it returns nil, the request is sent again. A request
	// with a streamed body is not sent again. Optional.
	Revive func(ctx context.Context) error
}

// NewClient returns a client for host: unix:///path or tcp://host:port.
// A tcp host needs tlsConfig (mutual TLS); a unix one ignores it.
func NewClient(host string, tlsConfig *tls.Config) (*Client, error) {
	u, err := url.Parse(host)
	if err != nil {
		return nil, fmt.Errorf("daemon host %q: %w", host, errdefs.ErrInvalidArgument)
	}
	tr := &http.Transport{MaxIdleConns: 4, IdleConnTimeout: 30 * time.Second}
	c := &Client{hc: &http.Client{Transport: tr}, host: host}
	switch u.Scheme {
	case "unix":
		path := u.Path
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}
		c.base = "http://stack"
	case "tcp":
		if tlsConfig == nil {
			return nil, fmt.Errorf("daemon host %s: tcp needs TLS certificates: %w", host, errdefs.ErrInvalidArgument)
		}
		tr.TLSClientConfig = tlsConfig
		c.base = "https://" + u.Host
	default:
		return nil, fmt.Errorf("daemon host %q: want unix:///path or tcp://host:port: %w", host, errdefs.ErrInvalidArgument)
	}
	return c, nil
}

// Host returns the address the client talks to.
func (c *Client) Host() string { return c.host }

// Do sends a request with an optional JSON (or raw, for an io.Reader) body
// and decodes a JSON answer into out when out is not nil.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	resp, err := c.send(ctx, method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode answer of %s %s: %w", method, path, err)
	}
	return nil
}

// Stream sends a request whose answer is a stream of JSON values, one per
// line, and calls fn with each until the stream ends, fn fails or ctx is
// done. A failure of the daemon after the stream began is its last line,
// a [StreamError]: Stream returns it as the error, of its class, and fn
// never sees it.
func (c *Client) Stream(ctx context.Context, method, path string, in any, fn func(json.RawMessage) error) error {
	resp, err := c.send(ctx, method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if err := streamError(line); err != nil {
			return err
		}
		if err := fn(json.RawMessage(line)); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("read stream of %s %s: %w", method, path, err)
	}
	return ctx.Err()
}

func (c *Client) send(ctx context.Context, method, path string, in any) (*http.Response, error) {
	var stream io.Reader // a body that can be sent once only
	var data []byte
	contentType := ""
	switch v := in.(type) {
	case nil:
	case io.Reader:
		stream, contentType = v, "application/octet-stream"
	default:
		var err error
		if data, err = json.Marshal(v); err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
		contentType = "application/json"
	}
	resend := stream == nil && c.Revive != nil
	do := func() (*http.Response, error) {
		b := stream
		if data != nil {
			b = bytes.NewReader(data)
		}
		req, err := http.NewRequestWithContext(ctx, method, c.base+"/v"+Version+path, b)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", method, path, err)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		return c.hc.Do(req)
	}
	resp, err := do()
	if err != nil && resend && ctx.Err() == nil && Gone(err) {
		if rerr := c.Revive(ctx); rerr == nil {
			resp, err = do()
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("cannot reach the stack daemon at %s: %w: %w", c.host, unwrapDial(err), errdefs.ErrUnavailable)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return nil, FromHTTP(resp.StatusCode, data)
	}
	return resp, nil
}

// Gone reports whether err means the daemon is not there (nothing listens
// on its socket) or went away before it answered (a reset or cut
// connection: a daemon that crashed or is exiting).
func Gone(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ENOENT) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// unwrapDial shortens a transport error to its cause ("connect: permission
// denied").
func unwrapDial(err error) error {
	var op *net.OpError
	if errors.As(err, &op) {
		return op.Err
	}
	return err
}

// EscapeRef escapes an image reference for a URL path, keeping its
// slashes as path separators.
func EscapeRef(ref string) string {
	parts := strings.Split(ref, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

// Query builds a query string from pairs of key, value; empty values are
// left out.
func Query(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			v.Set(kv[i], kv[i+1])
		}
	}
	if len(v) == 0 {
		return ""
	}
	return "?" + v.Encode()
}
