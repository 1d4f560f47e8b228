package runtime

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stack-dev/stack/internal/errdefs"
)

// User is a user resolved against a container's /etc/passwd and /etc/group.
type User struct {
	UID            uint32
	GID            uint32
	AdditionalGids []uint32
	Home           string // from /etc/passwd; "/" when the user has no entry
}

// Spec returns u in the form spec.Process.User takes.
func (u User) Spec() specs.User {
	return specs.User{UID: u.UID, GID: u.GID, AdditionalGids: u.AdditionalGids}
}

// ResolveUser resolves a Docker-style user string ("name", "uid",
// "name:group", "uid:gid", and mixes) against rootfs/etc/passwd and
// rootfs/etc/group, following symlinks only inside rootfs. The rules are
// Docker's (runc libcontainer/user.GetExecUser, then moby's getUser): a
// user found in passwd takes its primary group from there and its
// supplementary groups from the groups that list it; an explicit group
// replaces the primary group and disables the supplementary groups; a
// numeric id missing from the files is used as is (group 0). The primary
// group is always the first supplementary group, as Docker sets it (so
// `groups` in a root container says root). An empty string means root. A
// name that matches no entry is an error wrapping
// errdefs.ErrInvalidArgument.
func ResolveUser(rootfs, user string) (User, error) {
	userArg, groupArg, _ := strings.Cut(user, ":")
	if userArg == "" {
		userArg = "0"
	}
	passwd, err := readRootfsFile(rootfs, "/etc/passwd")
	if err != nil {
		return User{}, err
	}
	group, err := readRootfsFile(rootfs, "/etc/group")
	if err != nil {
		return User{}, err
	}
	u := User{Home: "/"}
	uidNum, uidErr := strconv.ParseUint(userArg, 10, 32)
	name := ""
	found := false
	for _, f := range colonRecords(passwd, 7) {
		uid, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil {
			continue
		}
		if f[0] == userArg || (uidErr == nil && uid == uidNum) {
			gid, _ := strconv.ParseUint(f[3], 10, 32)
			u.UID, u.GID, u.Home = uint32(uid), uint32(gid), f[5]
			name = f[0]
			found = true
			break
		}
	}
	if !found {
		if uidErr != nil {
			return User{}, fmt.Errorf("resolve user %q: no matching entries in passwd file: %w", userArg, errdefs.ErrInvalidArgument)
		}
		u.UID = uint32(uidNum)
	}
	if groupArg != "" {
		gidNum, gidErr := strconv.ParseUint(groupArg, 10, 32)
		matched := false
		for _, f := range colonRecords(group, 4) {
			gid, err := strconv.ParseUint(f[2], 10, 32)
			if err != nil {
				continue
			}
			if f[0] == groupArg || (gidErr == nil && gid == gidNum) {
				u.GID = uint32(gid)
				matched = true
				break
			}
		}
		if !matched {
			if gidErr != nil {
				return User{}, fmt.Errorf("resolve group %q: no matching entries in group file: %w", groupArg, errdefs.ErrInvalidArgument)
			}
			u.GID = uint32(gidNum)
		}
		u.AdditionalGids = []uint32{u.GID}
		return u, nil
	}
	u.AdditionalGids = []uint32{u.GID}
	if name == "" {
		return u, nil
	}
	for _, f := range colonRecords(group, 4) {
		gid, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil {
			continue
		}
		for _, member := range strings.Split(f[3], ",") {
			if member == name && !slices.Contains(u.AdditionalGids, uint32(gid)) {
				u.AdditionalGids = append(u.AdditionalGids, uint32(gid))
				break
			}
		}
	}
	return u, nil
}

// ResolveGroups resolves compose's group_add entries, group names or
// numbers, against rootfs/etc/group, as docker does: a number is taken as
// it is, a name must be in the file.
func ResolveGroups(rootfs string, groups []string) ([]uint32, error) {
	if len(groups) == 0 {
		return nil, nil
	}
	data, err := readRootfsFile(rootfs, "/etc/group")
	if err != nil {
		return nil, err
	}
	records := colonRecords(data, 4)
	out := make([]uint32, 0, len(groups))
	for _, g := range groups {
		if n, err := strconv.ParseUint(g, 10, 32); err == nil {
			out = append(out, uint32(n))
			continue
		}
		found := false
		for _, f := range records {
			if gid, err := strconv.ParseUint(f[2], 10, 32); err == nil && f[0] == g {
				out, found = append(out, uint32(gid)), true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("group %q: no such group in the image's /etc/group: %w", g, errdefs.ErrInvalidArgument)
		}
	}
	return out, nil
}

// readRootfsFile reads path inside rootfs, resolving symlinks as if rootfs
// were /. A missing file reads as empty, as it does for Docker.
func readRootfsFile(rootfs, path string) ([]byte, error) {
	p, err := securejoin.SecureJoin(rootfs, path)
	if err != nil {
		return nil, fmt.Errorf("resolve %s in rootfs: %w", path, err)
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 16<<20))
}

// colonRecords splits a passwd- or group-format file into records of at
// least n fields, skipping comments, blank and short lines.
func colonRecords(data []byte, n int) [][]string {
	var out [][]string
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) < n {
			continue
		}
		out = append(out, f)
	}
	return out
}
