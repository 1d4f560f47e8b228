package daemon

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/runtime"
	"github.com/stack-dev/stack/spec"
)

// LogsOptions select what Logs streams.
type LogsOptions struct {
	Services []string  // optional: all
	Tail     int       // lines per container from the end; <0 all
	Since    time.Time // optional
	Follow   bool      // keep streaming, across restarts and recreations
}

// Logs streams the output of a project's containers: the lines already
// logged, merged by time, and with Follow every new line until ctx ends,
// following a service across its container's restarts and recreations.
//
// A container's shim writes its log (runtime.LogConfig: one file across
// runs, rotated by size). No log is held in memory whole: --tail reads
// each log backwards from its end, a full read merges the containers'
// logs entry by entry, and following reads what each file gained since,
// by the file's identity, so a rotation between two reads loses nothing.
func (d *Daemon) Logs(ctx context.Context, project string, o LogsOptions, emit func(api.LogLine) error) error {
	want := func(service string) bool { return len(o.Services) == 0 || slices.Contains(o.Services, service) }
	recs, err := d.records(project)
	if err != nil {
		return err
	}
	cursors := map[string]*logCursor{}
	var streams []*entryStream
	var tails [][]api.LogLine
	for _, r := range recs {
		if !want(r.Service) || r.Log.Path == "" {
			continue
		}
		files := logFiles(r.Log)
		cursors[r.ID] = endOf(files)
		if o.Tail >= 0 {
			entries, err := tailEntries(files, o.Tail, o.Since)
			if err != nil {
				return err
			}
			lines := make([]api.LogLine, len(entries))
			for i, e := range entries {
				lines[i] = logLine(r, e)
			}
			tails = append(tails, lines)
		} else {
			streams = append(streams, &entryStream{rec: r, files: files, since: o.Since})
		}
	}
	if o.Tail >= 0 {
		if err := mergeSlices(tails, emit); err != nil {
			return err
		}
	} else if err := mergeStreams(streams, emit); err != nil {
		return err
	}
	if !o.Follow {
		return nil
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		recs, err := d.records(project)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if !want(r.Service) || r.Log.Path == "" {
				continue
			}
			cur := cursors[r.ID]
			if cur == nil {
				// A new container: all of it.
				cur = &logCursor{}
				cursors[r.ID] = cur
			}
			if err := cur.readNew(logFiles(r.Log), func(e runtime.LogEntry) error { return emit(logLine(r, e)) }); err != nil {
				return err
			}
		}
	}
}

func logLine(r *record, e runtime.LogEntry) api.LogLine {
	return api.LogLine{Time: e.Time, Container: r.Name, Service: r.Service, Stream: e.Stream, Line: e.Log}
}

// logFile is one file of a container's log, as it was when looked at.
type logFile struct {
	path string
	ino  uint64
	size int64
}

// logFiles returns the files of a log that exist, oldest first.
func logFiles(cfg runtime.LogConfig) []logFile {
	var out []logFile
	for _, p := range cfg.Files() {
		fi, err := os.Stat(p)
		if err != nil {
			continue
		}
		st, _ := fi.Sys().(*syscall.Stat_t)
		out = append(out, logFile{path: p, ino: st.Ino, size: fi.Size()})
	}
	return out
}

// logCursor is how far a log has been read: an offset in the file of
// inode ino (which rotation renames, but does not change). The zero
// cursor is at the start of the oldest file.
type logCursor struct {
	ino    uint64
	offset int64
}

// endOf is the cursor at the end of files.
func endOf(files []logFile) *logCursor {
	if len(files) == 0 {
		return &logCursor{}
	}
	last := files[len(files)-1]
	return &logCursor{ino: last.ino, offset: last.size}
}

// readNew calls fn for every complete entry after the cursor, in order,
// and moves the cursor past them. A cursor whose file rotated out of the
// kept files starts again at the oldest one.
func (c *logCursor) readNew(files []logFile, fn func(runtime.LogEntry) error) error {
	start, offset := 0, int64(0)
	for i, f := range files {
		if f.ino == c.ino {
			start, offset = i, c.offset
		}
	}
	for i := start; i < len(files); i++ {
		f := files[i]
		if i > start {
			offset = 0
		}
		end, err := forEachEntry(f.path, offset, f.size, fn)
		if err != nil {
			return err
		}
		c.ino, c.offset = f.ino, end
	}
	return nil
}

// forEachEntry decodes the complete entries of path between offset and
// limit and returns the offset after the last one: the writer may be in
// the middle of the next.
func forEachEntry(path string, offset, limit int64, fn func(runtime.LogEntry) error) (int64, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return offset, nil
	}
	if err != nil {
		return offset, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(io.NewSectionReader(f, offset, max(limit-offset, 0)), 64<<10)
	for {
		line, err := br.ReadBytes('\n')
		if err != nil {
			// io.EOF, with an incomplete entry or none.
			return offset, nil
		}
		offset += int64(len(line))
		var e runtime.LogEntry
		if json.Unmarshal(line, &e) != nil {
			continue // damaged by a crash mid-write
		}
		if err := fn(e); err != nil {
			return offset, err
		}
	}
}

// tailEntries returns the last n entries of a log (at or after since),
// reading its files backwards from the end: memory grows with n, not
// with the log.
func tailEntries(files []logFile, n int, since time.Time) ([]runtime.LogEntry, error) {
	var out []runtime.LogEntry
	for i := len(files) - 1; i >= 0 && len(out) < n; i-- {
		got, err := tailFile(files[i], n-len(out))
		if err != nil {
			return nil, err
		}
		out = append(got, out...)
		if len(got) > 0 && got[0].Time.Before(since) {
			break
		}
	}
	if !since.IsZero() {
		k := 0
		for k < len(out) && out[k].Time.Before(since) {
			k++
		}
		out = out[k:]
	}
	return out, nil
}

// tailFile returns the last n complete entries of f.
func tailFile(f logFile, n int) ([]runtime.LogEntry, error) {
	if n <= 0 {
		return nil, nil
	}
	fh, err := os.Open(f.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	// Find where the last n lines start: read blocks backwards, counting
	// newlines (the final one ends the last complete entry).
	const block = 64 << 10
	end := f.size
	pos, newlines := end, 0
	buf := make([]byte, block)
	for pos > 0 && newlines <= n {
		size := int64(block)
		if pos < size {
			size = pos
		}
		pos -= size
		if _, err := fh.ReadAt(buf[:size], pos); err != nil && err != io.EOF {
			return nil, err
		}
		for i := size - 1; i >= 0; i-- {
			if buf[i] != '\n' {
				continue
			}
			newlines++
			if newlines > n {
				pos += i + 1
				break
			}
		}
	}
	var out []runtime.LogEntry
	_, err = forEachEntry(f.path, pos, end, func(e runtime.LogEntry) error {
		out = append(out, e)
		return nil
	})
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return out, err
}

// entryStream reads one container's log forward, an entry at a time.
type entryStream struct {
	rec   *record
	files []logFile
	since time.Time

	i    int // the file open in br
	fh   *os.File
	br   *bufio.Reader
	head *runtime.LogEntry
	done bool
}

// peek returns the stream's next entry, nil at its end.
func (s *entryStream) peek() (*runtime.LogEntry, error) {
	for s.head == nil && !s.done {
		if s.br == nil {
			if s.i >= len(s.files) {
				s.done = true
				break
			}
			f := s.files[s.i]
			fh, err := os.Open(f.path)
			if err != nil {
				s.i++
				continue
			}
			s.fh, s.br = fh, bufio.NewReaderSize(io.NewSectionReader(fh, 0, f.size), 64<<10)
		}
		line, err := s.br.ReadBytes('\n')
		if err != nil {
			s.fh.Close()
			s.fh, s.br = nil, nil
			s.i++
			continue
		}
		var e runtime.LogEntry
		if json.Unmarshal(bytes.TrimSpace(line), &e) != nil || e.Time.Before(s.since) {
			continue
		}
		s.head = &e
	}
	return s.head, nil
}

func (s *entryStream) close() {
	if s.fh != nil {
		s.fh.Close()
	}
}

// mergeStreams emits the entries of every stream in time order.
func mergeStreams(streams []*entryStream, emit func(api.LogLine) error) error {
	defer func() {
		for _, s := range streams {
			s.close()
		}
	}()
	for {
		var next *entryStream
		for _, s := range streams {
			e, err := s.peek()
			if err != nil {
				return err
			}
			if e != nil && (next == nil || e.Time.Before(next.head.Time)) {
				next = s
			}
		}
		if next == nil {
			return nil
		}
		if err := emit(logLine(next.rec, *next.head)); err != nil {
			return err
		}
		next.head = nil
	}
}

// mergeSlices emits lines of several time-ordered lists in time order.
func mergeSlices(lists [][]api.LogLine, emit func(api.LogLine) error) error {
	idx := make([]int, len(lists))
	for {
		best := -1
		for i, l := range lists {
			if idx[i] < len(l) && (best < 0 || l[idx[i]].Time.Before(lists[best][idx[best]].Time)) {
				best = i
			}
		}
		if best < 0 {
			return nil
		}
		if err := emit(lists[best][idx[best]]); err != nil {
			return err
		}
		idx[best]++
	}
}

// logTail returns the last n lines of a container's output, formatted to
// end an error message.
func (d *Daemon) logTail(r *record, n int) string {
	entries, err := tailEntries(logFiles(r.Log), n, time.Time{})
	if err != nil || len(entries) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("; last output:")
	for _, e := range entries {
		b.WriteString("\n    " + strings.TrimRight(e.Log, "\n"))
	}
	return b.String()
}

// logConfig is where the container of r logs: one file across its runs
// under the state root, rotated as the service's logging options say, or
// as the daemon's defaults do.
func (d *Daemon) logConfig(r *record, opts map[string]string) (runtime.LogConfig, error) {
	cfg := runtime.LogConfig{Path: d.logPath(r.ID), MaxSize: d.cfg.LogMaxSize, MaxFiles: d.cfg.LogMaxFiles}
	if cfg.MaxSize == 0 && cfg.MaxFiles == 0 {
		cfg.MaxSize, cfg.MaxFiles = DefaultLogMaxSize, DefaultLogMaxFiles
	}
	if v, ok := opts["max-size"]; ok {
		size, err := spec.ParseByteSize(v)
		if err != nil || size <= 0 {
			return cfg, fmt.Errorf("logging.options.max-size %q: want a positive size such as 10m", v)
		}
		cfg.MaxSize = int64(size)
	}
	if v, ok := opts["max-file"]; ok {
		if _, err := fmt.Sscan(v, &cfg.MaxFiles); err != nil || cfg.MaxFiles < 1 {
			return cfg, fmt.Errorf("logging.options.max-file %q: want a positive number", v)
		}
	}
	return cfg, nil
}
