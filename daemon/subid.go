package daemon

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/stack-dev/stack/internal/errdefs"
)

// subIDRange is one line of /etc/subuid or /etc/subgid (subuid(5)):
// Count IDs from Start belong to Name (a user name or uid).
type subIDRange struct {
	Name         string
	Start, Count uint32
}

func (r subIDRange) end() uint64 { return uint64(r.Start) + uint64(r.Count) }

func (r subIDRange) String() string { return fmt.Sprintf("%s:%d:%d", r.Name, r.Start, r.Count) }

// maxID is the last valid ID: (uid_t)-1 means "no change" to the kernel.
const maxID = 1<<32 - 2

// parseSubIDs reads a subuid or subgid file. Lines that are empty or
// comments are skipped; a malformed line is an error naming it, with the
// well-formed lines still returned, so that a caller may go on with
// what it can read.
func parseSubIDs(data []byte) ([]subIDRange, error) {
	var out []subIDRange
	var bad []string
	for i, line := range bytes.Split(data, []byte("\n")) {
		l := strings.TrimSpace(string(line))
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		r, err := parseSubIDLine(l)
		if err != nil {
			bad = append(bad, fmt.Sprintf("line %d: %v", i+1, err))
			continue
		}
		out = append(out, r)
	}
	if len(bad) > 0 {
		return out, fmt.Errorf("%s: %w", strings.Join(bad, "; "), errdefs.ErrInvalidArgument)
	}
	return out, nil
}

func parseSubIDLine(l string) (subIDRange, error) {
	f := strings.Split(l, ":")
	if len(f) != 3 || f[0] == "" {
		return subIDRange{}, fmt.Errorf("%q: want NAME:START:COUNT", l)
	}
	start, err1 := strconv.ParseUint(f[1], 10, 32)
	count, err2 := strconv.ParseUint(f[2], 10, 32)
	if err1 != nil || err2 != nil || count == 0 || start+count-1 > maxID {
		return subIDRange{}, fmt.Errorf("%q: START and COUNT must be numbers, COUNT at least 1 and the range below 2^32-1", l)
	}
	return subIDRange{Name: f[0], Start: uint32(start), Count: uint32(count)}, nil
}

// parseIDRange parses the daemon setting userns-range, "START:COUNT":
// the host uids and gids from START that containers' ranges come from.
func parseIDRange(s string) (start, count uint32, err error) {
	r, err := parseSubIDLine("range:" + s)
	if err != nil {
		return 0, 0, fmt.Errorf("userns-range %q: want START:COUNT, COUNT a multiple of %d: %w", s, usernsSize, errdefs.ErrInvalidArgument)
	}
	if r.Count < usernsSize {
		return 0, 0, fmt.Errorf("userns-range %q: COUNT must be at least %d, a container's range: %w", s, usernsSize, errdefs.ErrInvalidArgument)
	}
	return r.Start, r.Count, nil
}

// usernsSize is the number of uids (and gids) a container's user
// namespace maps: 0..65535, as every image expects (nobody is 65534).
const usernsSize = 65536

// usernsBlocks returns the starts of the container ranges a pool holds:
// whole ranges of usernsSize, aligned on the pool's start.
func usernsBlocks(count uint32) int { return int(count / usernsSize) }

// overlaps reports whether [a, a+n) and [b, b+m) share an ID.
func overlaps(a, n, b, m uint64) bool { return a < b+m && b < a+n }
