package runtime

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
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
// describes, in order, and stops at the first error fn returns. An entry
// cut short at the end is one the shim is writing: it is left for a later
// read.
func DecodeLogs(r io.Reader, fn func(LogEntry) error) error {
	dec := json.NewDecoder(r)
	for {
		var e LogEntry
		if err := dec.Decode(&e); err == io.EOF || err == io.ErrUnexpectedEOF {
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

// LogConfig says where a container's output goes and how the log is
// rotated, as Docker's json-file driver does with max-size and max-file.
type LogConfig struct {
	// Path is the log file, appended to (so a container's runs share
	// it). Optional: container.log in the container's state directory.
	Path string `json:"path,omitempty"`
	// MaxSize is the size in bytes past which the log is rotated: it
	// becomes Path.1 (Path.1 becomes Path.2, ...) and a new Path starts.
	// Optional: 0 never rotates.
	MaxSize int64 `json:"maxSize,omitempty"`
	// MaxFiles is how many files are kept, the current one included.
	// Optional: 1, as Docker's default; with 1 the log starts over.
	MaxFiles int `json:"maxFiles,omitempty"`
}

// Files returns the log's files that exist, oldest first: the rotated
// ones (Path.N ... Path.1), then Path.
func (c LogConfig) Files() []string {
	if c.Path == "" {
		return nil
	}
	var out []string
	for i := max(c.MaxFiles-1, 0); i >= 1; i-- {
		p := c.Path + "." + strconv.Itoa(i)
		if _, err := os.Stat(p); err == nil {
			out = append(out, p)
		}
	}
	return append(out, c.Path)
}

// logFile appends entries to a log, rotating it by size. Each Write is
// one entry: an entry never straddles two files.
type logFile struct {
	cfg  LogConfig
	f    *os.File
	size int64
}

func openLogFile(cfg LogConfig) (*logFile, error) {
	f, err := os.OpenFile(cfg.Path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o640)
	if err != nil {
		return nil, err
	}
	size, err := dropTornEntry(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &logFile{cfg: cfg, f: f, size: size}, nil
}

// dropTornEntry cuts f after its last full line, and returns its size: a
// writer killed in the middle of a batch (a shim's SIGKILL can cut a
// write of more than a page) leaves an entry no reader can decode, and
// what is appended after it would join it. Nothing is lost: a recovery
// logs again the batch its shim had not taken out of the pipe.
func dropTornEntry(f *os.File) (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := fi.Size()
	if size == 0 {
		return 0, nil
	}
	last := make([]byte, 1)
	if _, err := f.ReadAt(last, size-1); err != nil {
		return 0, err
	}
	if last[0] == '\n' {
		return size, nil
	}
	buf := make([]byte, 64<<10)
	end := size
	for end > 0 {
		start := max(end-int64(len(buf)), 0)
		n, err := f.ReadAt(buf[:end-start], start)
		if err != nil && n < int(end-start) {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			end = start + int64(i) + 1
			break
		}
		end = start
	}
	if err := f.Truncate(end); err != nil {
		return 0, err
	}
	return end, nil
}

func (l *logFile) Write(p []byte) (int, error) {
	if l.cfg.MaxSize > 0 && l.size > 0 && l.size+int64(len(p)) > l.cfg.MaxSize {
		if err := l.rotate(); err != nil {
			return 0, err
		}
	}
	n, err := l.f.Write(p)
	l.size += int64(n)
	return n, err
}

// rotate shifts Path.N-1 to Path.N ... and Path to Path.1 (the oldest
// beyond MaxFiles goes), and starts a new Path.
func (l *logFile) rotate() error {
	keep := max(l.cfg.MaxFiles, 1)
	os.Remove(l.cfg.Path + "." + strconv.Itoa(keep-1))
	for i := keep - 2; i >= 1; i-- {
		os.Rename(l.cfg.Path+"."+strconv.Itoa(i), l.cfg.Path+"."+strconv.Itoa(i+1))
	}
	if keep > 1 {
		if err := os.Rename(l.cfg.Path, l.cfg.Path+".1"); err != nil {
			return fmt.Errorf("rotate log: %w", err)
		}
	}
	f, err := os.OpenFile(l.cfg.Path, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("rotate log: %w", err)
	}
	l.f.Close()
	l.f, l.size = f, 0
	return nil
}

func (l *logFile) Close() error { return l.f.Close() }
