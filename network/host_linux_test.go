package network

import (
	"errors"
	"testing"

	"github.com/vishvananda/netlink"
)

// TestRetryDump: an interrupted dump is asked for again, up to dumpTries
// times; any other answer is returned at once.
func TestRetryDump(t *testing.T) {
	other := errors.New("other")
	for _, c := range []struct {
		name        string
		interrupted int   // answers with ErrDumpInterrupted before the last
		last        error // then this
		wantCalls   int
		wantErr     error
	}{
		{name: "clean", wantCalls: 1},
		{name: "other error", last: other, wantCalls: 1, wantErr: other},
		{name: "interrupted twice", interrupted: 2, wantCalls: 3},
		{name: "always interrupted", interrupted: 100, wantCalls: dumpTries, wantErr: netlink.ErrDumpInterrupted},
	} {
		t.Run(c.name, func(t *testing.T) {
			calls := 0
			got, err := retryDump(func() (int, error) {
				calls++
				if calls <= c.interrupted {
					return -calls, netlink.ErrDumpInterrupted
				}
				return calls, c.last
			})
			if calls != c.wantCalls || !errors.Is(err, c.wantErr) || c.wantErr == nil && err != nil {
				t.Errorf("calls %d, err %v; want %d, %v", calls, err, c.wantCalls, c.wantErr)
			}
			if err == nil && got != calls {
				t.Errorf("got %d, want the last dump's %d", got, calls)
			}
		})
	}
}
