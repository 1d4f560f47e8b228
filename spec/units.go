package spec

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Duration is a Compose duration ("1m30s", "500ms"). It prints the way
// `docker compose config` prints durations.
type Duration time.Duration

// String returns the duration in Go notation ("1m30s").
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalYAML prints the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// MarshalJSON prints the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(d.String())), nil }

// ParseDuration parses a Compose duration: a sequence of decimal numbers
// with units us, ms, s, m, h ("1m30s"). Compose requires a unit on every
// number except a lone 0.
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if s == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: want a number with a unit, such as 30s, 1m30s or 500ms", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("invalid duration %q: must not be negative", s)
	}
	return Duration(d), nil
}

// ByteSize is a size in bytes, written in a stack file as a number of bytes
// or with a unit: b, k, kb, m, mb, g, gb (powers of 1024).
type ByteSize int64

// ParseByteSize parses a Compose byte size ("512m", "1gb", "1024").
func ParseByteSize(s string) (ByteSize, error) {
	orig := s
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "-1" {
		return -1, nil
	}
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	num, unit := s[:i], strings.TrimSpace(s[i:])
	mult, ok := byteUnits[unit]
	if num == "" || !ok {
		return 0, fmt.Errorf("invalid byte size %q: want a number with an optional unit b, k, m or g, such as 512m or 1g", orig)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f*float64(mult) > math.MaxInt64 {
		return 0, fmt.Errorf("invalid byte size %q: want a number with an optional unit b, k, m or g, such as 512m or 1g", orig)
	}
	return ByteSize(f * float64(mult)), nil
}

var byteUnits = map[string]int64{
	"": 1, "b": 1,
	"k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10,
	"m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
	"g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30,
	"t": 1 << 40, "tb": 1 << 40, "tib": 1 << 40,
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// UnmarshalJSON reads a duration printed by MarshalJSON, or a number of
// nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if s, err := strconv.Unquote(string(b)); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("invalid duration %q", s)
		}
		*d = Duration(v)
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("invalid duration %s", b)
	}
	*d = Duration(n)
	return nil
}
