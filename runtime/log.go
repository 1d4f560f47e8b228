package runtime

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"
)

// LogEntry is one record of a container log: a line, or a chunk of at most
// [MaxLogLine] bytes of a longer line, as the container wrote it. The
// on-disk form is Docker's json-file format, one JSON object per line:
//
//	{"log":"hello\n","stream":"stdout","time":"2024-05-01T10:00:00.123456789Z"}
//
// A Log without a trailing newline is a partial line (cut at MaxLogLine, or
// the last bytes before the stream closed).
type LogEntry struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"` // "stdout" or "stderr"
	Time   time.Time `json:"time"`
}

// MaxLogLine is the longest chunk of a line kept in one [LogEntry].
const MaxLogLine = 16 << 10

// DecodeLogs calls fn for each entry of a log in the format [LogEntry]
// describes, in order, and stops at the first error fn returns.
func DecodeLogs(r io.Reader, fn func(LogEntry) error) error {
	dec := json.NewDecoder(r)
	for {
		var e LogEntry
		if err := dec.Decode(&e); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("decode log: %w", err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
}

// logSink serializes entries from several streams into one writer.
type logSink struct {
	mu  sync.Mutex
	w   io.Writer
	now func() time.Time
}

func (s *logSink) write(stream string, b []byte) error {
	line, err := json.Marshal(LogEntry{Log: string(b), Stream: stream, Time: s.now().UTC()})
	if err != nil {
		return err
	}
	line = append(line, '\n')
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err = s.w.Write(line)
	return err
}

// copyStream reads r until EOF and writes one entry per line (or per
// MaxLogLine bytes of a longer line) to s.
func (s *logSink) copyStream(stream string, r io.Reader) error {
	br := bufio.NewReaderSize(r, MaxLogLine)
	for {
		chunk, err := br.ReadSlice('\n')
		if len(chunk) > 0 {
			if werr := s.write(stream, chunk); werr != nil {
				return werr
			}
		}
		switch err {
		case nil, bufio.ErrBufferFull:
		case io.EOF:
			return nil
		default:
			return err
		}
	}
}
