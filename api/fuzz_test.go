package api

import (
	"bytes"
	"io"
	"testing"
)

type rwc struct {
	io.Reader
	io.Writer
}

func (rwc) Close() error { return nil }

// FuzzFrameRead: whatever a peer sends, reading frames ends in frames or
// an error, never a panic or an allocation beyond the frame limit.
func FuzzFrameRead(f *testing.F) {
	var b bytes.Buffer
	fc := NewFrameConn(rwc{&b, &b}, nil)
	fc.Write(FrameStdout, []byte("hello"))
	fc.Write(FrameExit, ExitPayload(3))
	f.Add(b.Bytes())
	f.Add([]byte{FrameResize, 0, 0, 0, 4, 0, 80, 0, 24})
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		fc := NewFrameConn(rwc{bytes.NewReader(data), io.Discard}, nil)
		for {
			kind, payload, err := fc.Read()
			if err != nil {
				return
			}
			switch kind {
			case FrameResize:
				ParseResize(payload)
			case FrameExit:
				ParseExit(payload)
			}
		}
	})
}

// FuzzStreamError: whatever a daemon sends as a stream line, telling an
// error line from a value never panics.
func FuzzStreamError(f *testing.F) {
	f.Add([]byte(`{"error":{"class":"not_found","message":"no such service"}}`))
	f.Add([]byte(`{"action":"error","error":"boom","message":"internal"}`))
	f.Add([]byte(`{"error":{"class":1}}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		if err := streamError(line); err != nil && err.Error() == "" {
			t.Errorf("an error line without a message: %q", line)
		}
	})
}
