package runtime

import (
	"errors"
	"reflect"
	"testing"

	"github.com/stack-dev/stack/internal/errdefs"
)

func TestResolveUser(t *testing.T) {
	const root = "testdata/rootfs-users"
	tests := []struct {
		name    string
		user    string
		want    User
		wantErr error
	}{
		{name: "empty is root", user: "", want: User{AdditionalGids: []uint32{0}, Home: "/root"}},
		{name: "name with groups", user: "app", want: User{UID: 1000, GID: 1000, AdditionalGids: []uint32{1000, 1001, 29}, Home: "/home/app"}},
		{name: "uid finds name", user: "1000", want: User{UID: 1000, GID: 1000, AdditionalGids: []uint32{1000, 1001, 29}, Home: "/home/app"}},
		{name: "explicit group drops supplementary", user: "app:extra", want: User{UID: 1000, GID: 1001, AdditionalGids: []uint32{1001}, Home: "/home/app"}},
		{name: "numeric unknown", user: "4242:4343", want: User{UID: 4242, GID: 4343, AdditionalGids: []uint32{4343}, Home: "/"}},
		{name: "numeric unknown uid only", user: "4242", want: User{UID: 4242, GID: 0, AdditionalGids: []uint32{0}, Home: "/"}},
		{name: "name with numeric group", user: "www-data:0", want: User{UID: 33, GID: 0, AdditionalGids: []uint32{0}, Home: "/var/www"}},
		{name: "unknown name", user: "bogus", wantErr: errdefs.ErrInvalidArgument},
		{name: "unknown group", user: "app:bogus", wantErr: errdefs.ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ResolveUser(root, tt.user)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err == nil && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestResolveUserMissingFiles(t *testing.T) {
	got, err := ResolveUser(t.TempDir(), "123:456")
	if err != nil {
		t.Fatal(err)
	}
	if want := (User{UID: 123, GID: 456, AdditionalGids: []uint32{456}, Home: "/"}); !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestResolveGroups(t *testing.T) {
	const root = "testdata/rootfs-users"
	got, err := ResolveGroups(root, []string{"extra", "4000", "0"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint32{1001, 4000, 0}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if _, err := ResolveGroups(root, []string{"nosuchgroup"}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("unknown group: %v", err)
	}
}
