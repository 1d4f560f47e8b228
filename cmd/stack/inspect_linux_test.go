package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/internal/errdefs"
)

func TestParsePrivatePort(t *testing.T) {
	for _, tc := range []struct {
		name, arg, flag string
		port            int
		proto           string
		bad             bool
	}{
		{name: "plain", arg: "80", flag: "tcp", port: 80, proto: "tcp"},
		{name: "flag", arg: "53", flag: "udp", port: 53, proto: "udp"},
		{name: "argument wins", arg: "53/udp", flag: "tcp", port: 53, proto: "udp"},
		{name: "not a number", arg: "http", flag: "tcp", bad: true},
		{name: "out of range", arg: "70000", flag: "tcp", bad: true},
		{name: "zero", arg: "0", flag: "tcp", bad: true},
		{name: "bad protocol", arg: "80/sctp", flag: "tcp", bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port, proto, err := parsePrivatePort(tc.arg, tc.flag)
			if tc.bad {
				if !errors.Is(err, errdefs.ErrInvalidArgument) {
					t.Errorf("want an invalid-argument error, got %v", err)
				}
				return
			}
			if err != nil || port != tc.port || proto != tc.proto {
				t.Errorf("got %d/%s, %v", port, proto, err)
			}
		})
	}
}

func TestBinarySize(t *testing.T) {
	for n, want := range map[uint64]string{0: "0B", 1023: "1023B", 1024: "1KiB", 1536: "1.5KiB", 328 << 10: "328KiB", 25276502016: "23.54GiB"} {
		if got := binarySize(n); got != want {
			t.Errorf("binarySize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestWriteTop(t *testing.T) {
	var b bytes.Buffer
	tops := []api.ContainerTop{
		{Name: "p-web-1", Titles: []string{"UID", "PID", "CMD"}, Processes: [][]string{{"root", "12", "sleep 3600"}}},
		{Name: "p-db-1", Titles: []string{"UID", "PID", "CMD"}, Processes: [][]string{}},
	}
	if err := writeTop(&b, tops); err != nil {
		t.Fatal(err)
	}
	want := "p-web-1\nUID    PID   CMD\nroot   12    sleep 3600\n\np-db-1\nUID   PID   CMD\n"
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestWritePruneReport(t *testing.T) {
	var b bytes.Buffer
	writePruneReport(&b, api.PruneReport{Networks: []string{"p_default"}, Volumes: []string{"p_web_anon_1", "p_data"},
		Images: []string{"sha256:e6d6"}, SpaceReclaimed: 2500000})
	want := "Deleted Networks:\np_default\n\nDeleted Volumes:\np_web_anon_1\np_data\n\nDeleted Images:\ndeleted: sha256:e6d6\n\nTotal reclaimed space: 2.5MB\n"
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestConfirm(t *testing.T) {
	for in, want := range map[string]bool{"y\n": true, "yes\n": true, "n\n": false, "\n": false, "": false} {
		var out bytes.Buffer
		if got := confirm(strings.NewReader(in), &out, "WARNING! gone.\n"); got != want {
			t.Errorf("answer %q: got %v", in, got)
		}
		if !strings.HasPrefix(out.String(), "WARNING! gone.\nAre you sure you want to continue? [y/N] ") {
			t.Errorf("prompt: %q", out.String())
		}
	}
}

func TestServiceQuery(t *testing.T) {
	if got := serviceQuery([]string{"web", "db"}, "window", "500ms", "x", ""); got != "?service=web&service=db&window=500ms" {
		t.Errorf("got %q", got)
	}
	if got := serviceQuery(nil); got != "" {
		t.Errorf("got %q", got)
	}
}
