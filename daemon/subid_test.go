package daemon

import (
	"errors"
	"reflect"
	"testing"

	"github.com/stack-dev/stack/internal/errdefs"
)

func TestParseSubIDs(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []subIDRange
		wantErr bool
	}{
		{name: "empty", in: ""},
		{name: "entries", in: "alice:100000:65536\nstack:165536:655360\n", want: []subIDRange{{"alice", 100000, 65536}, {"stack", 165536, 655360}}},
		{name: "comments and blanks", in: "# users\n\n  bob:200000:65536  \n", want: []subIDRange{{"bob", 200000, 65536}}},
		{name: "numeric owner", in: "1000:100000:65536", want: []subIDRange{{"1000", 100000, 65536}}},
		{name: "malformed kept apart", in: "alice:1:2:3\nbob:200000:65536\n", want: []subIDRange{{"bob", 200000, 65536}}, wantErr: true},
		{name: "zero count", in: "alice:100000:0", wantErr: true},
		{name: "past the last id", in: "alice:4294967290:10", wantErr: true},
		{name: "not numbers", in: "alice:x:65536", wantErr: true},
		{name: "no name", in: ":100000:65536", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSubIDs([]byte(tt.in))
			if (err != nil) != tt.wantErr || err != nil && !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("error = %v, want error %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseIDRange(t *testing.T) {
	tests := []struct {
		in           string
		start, count uint32
		ok           bool
	}{
		{"1000000000:655360", 1000000000, 655360, true},
		{"100000:65535", 0, 0, false},
		{"100000", 0, 0, false},
		{"-1:65536", 0, 0, false},
		{"4294901760:65536", 0, 0, false}, // its last id would be -1
	}
	for _, tt := range tests {
		start, count, err := parseIDRange(tt.in)
		if (err == nil) != tt.ok || tt.ok && (start != tt.start || count != tt.count) {
			t.Errorf("parseIDRange(%q) = %d, %d, %v", tt.in, start, count, err)
		}
	}
}

// FuzzParseSubIDs: any content of /etc/subuid parses without a panic,
// into entries that are all valid ranges.
func FuzzParseSubIDs(f *testing.F) {
	f.Add([]byte("alice:100000:65536\nstack:165536:67108864\n"))
	f.Add([]byte("# c\n\n1000:1:1\nx:4294967294:1"))
	f.Add([]byte("a:b:c:d\n::\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, _ := parseSubIDs(data)
		for _, r := range got {
			if r.Name == "" || r.Count == 0 || r.end()-1 > maxID {
				t.Fatalf("invalid entry %+v from %q", r, data)
			}
		}
	})
}
