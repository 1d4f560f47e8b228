package dockerapi

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"sync"

	"github.com/moby/moby/api/types/jsonstream"
)

// The framings of the Docker API's streams.

// Stream kinds of the multiplexed framing (stdcopy's).
const (
	streamStdin  byte = 0
	streamStdout byte = 1
	streamStderr byte = 2
)

// muxWriter writes what it is given as frames of one stream of the
// multiplexed framing: a header of the stream kind, three zero bytes and
// the big-endian uint32 length, then the payload. Writers of one
// connection share its lock, so frames never interleave.
type muxWriter struct {
	mu   *sync.Mutex
	w    io.Writer
	kind byte
}

// maxFrame cuts long writes into frames a reader need not buffer whole.
const maxFrame = 32 << 10

func (m muxWriter) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for len(p) > 0 {
		chunk := p[:min(len(p), maxFrame)]
		var hdr [8]byte
		hdr[0] = m.kind
		binary.BigEndian.PutUint32(hdr[4:], uint32(len(chunk)))
		if _, err := m.w.Write(hdr[:]); err != nil {
			return n, err
		}
		k, err := m.w.Write(chunk)
		n += k
		if err != nil {
			return n, err
		}
		p = p[len(chunk):]
	}
	if f, ok := m.w.(interface{ Flush() error }); ok {
		return n, f.Flush()
	}
	return n, nil
}

// muxStreams returns the stdout and stderr writers of the multiplexed
// framing over w.
func muxStreams(w io.Writer) (stdout, stderr io.Writer) {
	mu := &sync.Mutex{}
	return muxWriter{mu, w, streamStdout}, muxWriter{mu, w, streamStderr}
}

// flushWriter flushes an http.ResponseWriter after every write.
type flushWriter struct {
	w  io.Writer
	mu sync.Mutex
}

func (f *flushWriter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.w.Write(p)
	if fl, ok := f.w.(http.Flusher); ok {
		fl.Flush()
	}
	return n, err
}

// jsonMessage is a line of a JSON message stream (pull, push, build,
// load): jsonstream.Message, with the plain "error" string that older
// clients (docker-py) look for besides errorDetail.
type jsonMessage struct {
	jsonstream.Message
	ErrorMessage string `json:"error,omitempty"`
}

// jsonStream writes JSON messages, one per line, each flushed.
type jsonStream struct {
	mu  sync.Mutex
	enc *json.Encoder
	w   http.ResponseWriter
}

func newJSONStream(w http.ResponseWriter) *jsonStream {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	return &jsonStream{enc: json.NewEncoder(w), w: w}
}

func (s *jsonStream) send(v any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.enc.Encode(v); err != nil {
		return err
	}
	flush(s.w)
	return nil
}

// fail ends the stream with err, as the last message.
func (s *jsonStream) fail(err error) {
	s.send(jsonMessage{Message: jsonstream.Message{Error: &jsonstream.Error{Message: err.Error()}}, ErrorMessage: err.Error()})
}

// hijacked is a connection taken over from the HTTP server for attach
// and exec: reads come from what the server buffered first.
type hijacked struct {
	net.Conn
	r *bufio.Reader
	w *bufio.Writer
}

func (h *hijacked) Read(p []byte) (int, error) { return h.r.Read(p) }

func (h *hijacked) Write(p []byte) (int, error) {
	n, err := h.w.Write(p)
	if err == nil {
		err = h.w.Flush()
	}
	return n, err
}

// closeWrite ends the connection's writing side, so the client sees the
// end of the output while it may still send.
func (h *hijacked) closeWrite() {
	h.w.Flush()
	if cw, ok := h.Conn.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}

// hijack takes the connection of an attach or exec start over and
// answers it: 101 UPGRADED when the client asked to upgrade (docker's
// "tcp" protocol), else 200, with the media type of the stream that
// follows (raw for a terminal, multiplexed otherwise).
func hijack(w http.ResponseWriter, r *http.Request, tty bool) (*hijacked, error) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return nil, errNoHijack
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		return nil, err
	}
	media := "application/vnd.docker.multiplexed-stream"
	if tty {
		media = "application/vnd.docker.raw-stream"
	}
	h := &hijacked{Conn: conn, r: rw.Reader, w: bufio.NewWriter(conn)}
	if r.Header.Get("Upgrade") != "" {
		io.WriteString(h.w, "HTTP/1.1 101 UPGRADED\r\nContent-Type: "+media+"\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n")
	} else {
		io.WriteString(h.w, "HTTP/1.1 200 OK\r\nContent-Type: "+media+"\r\n")
	}
	io.WriteString(h.w, "Api-Version: "+APIVersion+"\r\n\r\n")
	if err := h.w.Flush(); err != nil {
		conn.Close()
		return nil, err
	}
	return h, nil
}
