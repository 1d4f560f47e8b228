package runtime

import (
	"fmt"
	"slices"
	"testing"
)

func TestTweakCapabilities(t *testing.T) {
	def := DefaultCapabilities()
	tests := []struct {
		name       string
		add, drop  []string
		privileged bool
		want       []string
		wantErr    bool
	}{
		{name: "default", want: def},
		{name: "add lower case without prefix", add: []string{"net_admin"},
			want: []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_SYS_CHROOT", "CAP_MKNOD", "CAP_AUDIT_WRITE", "CAP_SETFCAP"}},
		{name: "drop", drop: []string{"CAP_CHOWN", "mknod"},
			want: []string{"CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SYS_CHROOT", "CAP_AUDIT_WRITE", "CAP_SETFCAP"}},
		{name: "drop all add one", drop: []string{"ALL"}, add: []string{"kill"}, want: []string{"CAP_KILL"}},
		{name: "add all", add: []string{"all"}, want: AllCapabilities()},
		{name: "privileged", privileged: true, drop: []string{"ALL"}, want: AllCapabilities()},
		{name: "unknown", add: []string{"CAP_BOGUS"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := TweakCapabilities(def, tt.add, tt.drop, tt.privileged)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got  %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestCapMask(t *testing.T) {
	m, err := capMask(DefaultCapabilities(), 40)
	if err != nil {
		t.Fatal(err)
	}
	// Docker's default CapEff as /proc/self/status prints it.
	if got, want := fmt.Sprintf("%016x", m), "00000000a80425fb"; got != want {
		t.Errorf("mask = %s, want %s", got, want)
	}
	m, _ = capMask(AllCapabilities(), 37)
	if m != 1<<38-1 {
		t.Errorf("capabilities above cap_last_cap kept: %x", m)
	}
}
