package daemon

import (
	"testing"
	"time"
)

// TestNextRestartDelay follows Docker's restart manager: 100ms, doubled
// after each run shorter than 10s, reset by a longer run, capped at a
// minute.
func TestNextRestartDelay(t *testing.T) {
	ms := time.Millisecond
	var d time.Duration
	var got []time.Duration
	for _, ran := range []time.Duration{ms, ms, ms, 11 * time.Second, ms, 10 * time.Second} {
		d = nextRestartDelay(d, ran)
		got = append(got, d)
	}
	want := []time.Duration{100 * ms, 200 * ms, 400 * ms, 100 * ms, 200 * ms, 100 * ms}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("delays %v, want %v", got, want)
		}
	}
	d = 0
	for range 20 {
		d = nextRestartDelay(d, ms)
	}
	if d != time.Minute {
		t.Errorf("after 20 quick exits the delay is %v, want a minute", d)
	}
}
