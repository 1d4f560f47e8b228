package daemon

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/stack-dev/stack/image"
	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/spec"
)

// User namespaces
//
// A container with a user namespace gets a range of usernsSize host uids
// and gids of its own, allocated from the daemon's pool: the entry of
// UserNSConfig.User (by default "stack") in /etc/subuid and /etc/subgid,
// which the daemon adds when it is missing, or UserNSConfig.Range. The
// range is in the container's record (record.UserNS), written durably
// before anything of the container exists, and freed when the record is
// removed: the records are the allocation table, so a crash can neither
// leak a range (the teardown that removes the record runs again) nor hand
// one out twice (allocation and the record's write are one step under the
// record store's lock).
//
// Ranges are per container, not per project: two containers of a project
// share files through volumes and binds, which are idmapped (on disk, a
// file has the owner a container without a user namespace would give it),
// so a shared range would buy nothing and cost the isolation of one
// container from the others. A container costs its range nothing at run
// time either way: no process holds a user namespace.

// Names of the daemon's user namespace default (Config.UserNS.Mode).
const (
	UserNSPrivate = "private" // each container has its own (a service opts out with userns_mode: host)
	UserNSHost    = "host"    // containers share the host's
)

// UserNSConfig is how the daemon gives containers user namespaces.
type UserNSConfig struct {
	// Mode is UserNSPrivate or UserNSHost. Optional: DefaultUserNSMode.
	Mode string
	// User names the /etc/subuid and /etc/subgid entries of the pool.
	// Optional: "stack", added to the files when missing.
	User string
	// Range is the pool as START:COUNT, the same for uids and gids,
	// instead of the files' entries. Optional.
	Range string
	// SubUIDFile and SubGIDFile are the files. Optional: /etc/subuid and
	// /etc/subgid.
	SubUIDFile, SubGIDFile string
}

// DefaultUserNSMode is the default of Config.UserNS.Mode: opt-in for
// now (README, Security: what keeps it from being the default).
const DefaultUserNSMode = UserNSHost

// defaultSubIDUser owns the pool in /etc/subuid and /etc/subgid, and
// defaultPoolRanges is how many container ranges the entry it adds holds.
const (
	defaultSubIDUser  = "stack"
	defaultPoolRanges = 1024
)

// usernsRange is a container's range, in its record.
type usernsRange struct {
	UID  uint32 `json:"uid"`
	GID  uint32 `json:"gid"`
	Size uint32 `json:"size"`
}

func (u *usernsRange) shift() image.IDShift {
	return image.IDShift{UID: u.UID, GID: u.GID, Size: u.Size}
}

// usernsPool is where containers' ranges come from: range i is the uids
// from UID+i*usernsSize and the gids from GID+i*usernsSize.
type usernsPool struct {
	UID, GID uint32
	Ranges   int
}

// userNS is the daemon's pool, resolved on first use.
type userNS struct {
	mu   sync.Mutex
	pool *usernsPool
}

// usernsEnabled reports whether containers get a user namespace unless
// their service opts out.
func (d *Daemon) usernsEnabled() bool {
	return cmp.Or(d.cfg.UserNS.Mode, DefaultUserNSMode) == UserNSPrivate
}

// serviceUserNS says whether a container of svc gets a user namespace.
// A service the daemon's default would give one but that cannot have it
// is an error that names the fix, never a silent fallback to the host's
// root: privileged (all of the host's capabilities, the host's devices),
// and a network namespace shared with another service (it belongs to one
// user namespace, and the two would need to share it).
func (d *Daemon) serviceUserNS(p *spec.Project, svc *spec.Service) (bool, error) {
	if !d.usernsEnabled() || svc.UsernsMode == "host" {
		return false, nil
	}
	fix := fmt.Sprintf("set userns_mode: host on service %q to run it as the host's root (or run the daemon with --userns-remap host)", svc.Name)
	switch {
	case svc.Privileged:
		return false, fmt.Errorf("service %q: privileged: true needs the host's user namespace, and containers get one of their own by default: %s: %w", svc.Name, fix, errdefs.ErrInvalidArgument)
	case svc.NetworkMode == "host":
		return false, fmt.Errorf("service %q: network_mode: host needs the host's user namespace: %s: %w", svc.Name, fix, errdefs.ErrInvalidArgument)
	case strings.HasPrefix(svc.NetworkMode, "service:"):
		target := strings.TrimPrefix(svc.NetworkMode, "service:")
		return false, fmt.Errorf("service %q: network_mode: %s shares the network namespace of %q, which belongs to that container's user namespace: set userns_mode: host on both %q and %q: %w", svc.Name, svc.NetworkMode, target, svc.Name, target, errdefs.ErrInvalidArgument)
	}
	for _, name := range sortedKeys(p.Services) {
		if p.Services[name].NetworkMode == "service:"+svc.Name {
			return false, fmt.Errorf("service %q: service %q shares its network namespace (network_mode: service:%s), which would belong to %q's user namespace: set userns_mode: host on both %q and %q: %w", svc.Name, name, svc.Name, svc.Name, svc.Name, name, errdefs.ErrInvalidArgument)
		}
	}
	return true, nil
}

// checkUserNS checks every service of names before anything is created
// (see serviceUserNS), and returns all the refusals at once.
func (d *Daemon) checkUserNS(p *spec.Project, names []string) error {
	var errs []error
	for _, name := range names {
		if svc := p.Services[name]; svc != nil {
			if _, err := d.serviceUserNS(p, svc); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// usernsPool returns the daemon's pool, reading (and when needed
// completing) /etc/subuid and /etc/subgid the first time.
func (d *Daemon) usernsPool() (*usernsPool, error) {
	d.userns.mu.Lock()
	defer d.userns.mu.Unlock()
	if d.userns.pool != nil {
		return d.userns.pool, nil
	}
	p, err := resolvePool(d.cfg.UserNS)
	if err != nil {
		return nil, fmt.Errorf("user namespaces: %w", err)
	}
	d.userns.pool = p
	d.log.Info("user namespace pool", "uid", p.UID, "gid", p.GID, "ranges", p.Ranges)
	return p, nil
}

func resolvePool(c UserNSConfig) (*usernsPool, error) {
	if c.Range != "" {
		start, count, err := parseIDRange(c.Range)
		if err != nil {
			return nil, err
		}
		if err := checkConfiguredRange(c, start, count); err != nil {
			return nil, err
		}
		return &usernsPool{UID: start, GID: start, Ranges: usernsBlocks(count)}, nil
	}
	user := c.User
	if user == "" {
		user = defaultSubIDUser
	}
	uidFile, gidFile := c.SubUIDFile, c.SubGIDFile
	if uidFile == "" {
		uidFile = "/etc/subuid"
	}
	if gidFile == "" {
		gidFile = "/etc/subgid"
	}
	var pool usernsPool
	for i, f := range []string{uidFile, gidFile} {
		r, err := subIDEntry(f, user, user == defaultSubIDUser)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			pool.UID, pool.Ranges = r.Start, usernsBlocks(r.Count)
		} else {
			pool.GID, pool.Ranges = r.Start, min(pool.Ranges, usernsBlocks(r.Count))
		}
	}
	if pool.Ranges == 0 {
		return nil, fmt.Errorf("the %s entries of %s and %s hold fewer than %d IDs, one container's range: %w", user, uidFile, gidFile, usernsSize, errdefs.ErrFailedPrecondition)
	}
	return &pool, nil
}

// checkConfiguredRange refuses a userns-range that holds IDs of the
// host's users or groups, or of another user's entry in the subordinate
// ID files (the "stack" entry, ours, is allowed: it may be the same
// range).
func checkConfiguredRange(c UserNSConfig, start, count uint32) error {
	for _, kind := range []struct{ file, name string }{{c.SubUIDFile, "subuid"}, {c.SubGIDFile, "subgid"}} {
		if high := hostMaxID(kind.name); uint64(start) <= high {
			return fmt.Errorf("userns-range %d:%d holds IDs of the host's users or groups (up to %d): start it above: %w", start, count, high, errdefs.ErrInvalidArgument)
		}
		path := kind.file
		if path == "" {
			path = "/etc/" + kind.name
		}
		data, err := os.ReadFile(path)
		if err != nil {
			continue // no file, no other user's entries
		}
		entries, _ := parseSubIDs(data)
		for _, e := range entries {
			if e.Name != defaultSubIDUser && e.Name != c.User && overlaps(uint64(start), uint64(count), uint64(e.Start), uint64(e.Count)) {
				return fmt.Errorf("userns-range %d:%d overlaps %s's entry of %s (%s): containers would share IDs with that user's: %w", start, count, e.Name, path, e, errdefs.ErrInvalidArgument)
			}
		}
	}
	return nil
}

// subIDEntry returns user's entry in the subordinate ID file path,
// adding one when it has none and add is set. The entry must not overlap
// another's, nor the IDs of the host's users and groups.
func subIDEntry(path, user string, add bool) (subIDRange, error) {
	// One daemon at a time edits the file (shadow's tools lock it by
	// other means; a daemon starting as useradd runs is not guarded).
	lock, err := os.OpenFile(path+".stack-lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return subIDRange{}, err
	}
	defer func() {
		lock.Close()
		os.Remove(lock.Name())
	}()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return subIDRange{}, os.NewSyscallError("flock", err)
	}
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return subIDRange{}, err
	}
	entries, perr := parseSubIDs(data)
	var mine *subIDRange
	for i := range entries {
		if entries[i].Name == user {
			mine = &entries[i]
			break
		}
	}
	if mine == nil && perr != nil {
		return subIDRange{}, fmt.Errorf("%s: %w", path, perr)
	}
	hostIDs := hostMaxID(filepath.Base(path))
	if mine == nil {
		if !add {
			return subIDRange{}, fmt.Errorf("%s has no entry for %s: add one (usermod --add-subuids) or set userns-range: %w", path, user, errdefs.ErrFailedPrecondition)
		}
		// After every other entry and every host ID, aligned.
		start := max(uint64(100000), hostIDs+1)
		for _, e := range entries {
			start = max(start, e.end())
		}
		start = (start + usernsSize - 1) / usernsSize * usernsSize
		r := subIDRange{Name: user, Start: uint32(start), Count: defaultPoolRanges * usernsSize}
		if r.end()-1 > maxID {
			return subIDRange{}, fmt.Errorf("%s: no room for %d IDs after its entries: add a %s entry by hand: %w", path, r.Count, user, errdefs.ErrFailedPrecondition)
		}
		if len(data) > 0 && !bytes.HasSuffix(data, []byte("\n")) {
			data = append(data, '\n')
		}
		data = append(data, r.String()+"\n"...)
		if err := writeFileAtomic(path, data, 0o644, true); err != nil {
			return subIDRange{}, fmt.Errorf("add the %s entry to %s: %w", user, path, err)
		}
		return r, nil
	}
	for _, e := range entries {
		if e.Name != user && overlaps(uint64(mine.Start), uint64(mine.Count), uint64(e.Start), uint64(e.Count)) {
			return subIDRange{}, fmt.Errorf("%s: the %s entry (%s) overlaps %s's (%s): containers would share IDs with that user's: %w", path, user, mine, e.Name, e, errdefs.ErrFailedPrecondition)
		}
	}
	if uint64(mine.Start) <= hostIDs {
		return subIDRange{}, fmt.Errorf("%s: the %s entry (%s) starts at or below the host's highest user or group ID (%d): %w", path, user, mine, hostIDs, errdefs.ErrFailedPrecondition)
	}
	return *mine, nil
}

// hostMaxID returns the highest uid of /etc/passwd (for "subuid") or gid
// of /etc/group (for "subgid") below nobody's 65534... 65535 range:
// those are users and groups of the host, which no container range may
// hold.
func hostMaxID(kind string) uint64 {
	file, field := "/etc/passwd", 2
	if kind == "subgid" || strings.HasSuffix(kind, "gid") {
		file = "/etc/group"
	}
	f, err := os.Open(file)
	if err != nil {
		return 65535
	}
	defer f.Close()
	high := uint64(65535)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.Split(sc.Text(), ":")
		if len(parts) <= field {
			continue
		}
		if id, err := strconv.ParseUint(parts[field], 10, 32); err == nil && id != 4294967294 && id != 4294967295 {
			high = max(high, id)
		}
	}
	return high
}

// allocateUserNS gives r a range of the pool, the lowest that no record
// holds, and writes r durably before returning: the range is taken once
// the record is on disk.
func (s *recordStore) allocateUserNS(r *record, pool *usernsPool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	taken := func(uid, gid uint32) bool {
		for k, o := range s.recs {
			if o.UserNS == nil || k == (recordKey{r.Project, r.Name}) {
				continue
			}
			if overlaps(uint64(uid), usernsSize, uint64(o.UserNS.UID), uint64(o.UserNS.Size)) ||
				overlaps(uint64(gid), usernsSize, uint64(o.UserNS.GID), uint64(o.UserNS.Size)) {
				return true
			}
		}
		return false
	}
	for i := 0; i < pool.Ranges; i++ {
		uid, gid := pool.UID+uint32(i)*usernsSize, pool.GID+uint32(i)*usernsSize
		if taken(uid, gid) {
			continue
		}
		r.UserNS = &usernsRange{UID: uid, GID: gid, Size: usernsSize}
		if err := s.write(r, true); err != nil {
			r.UserNS = nil
			return fmt.Errorf("record the user namespace range of %s: %w", r.Name, err)
		}
		s.recs[recordKey{r.Project, r.Name}] = r.clone()
		return nil
	}
	return fmt.Errorf("no free user namespace range: all %d of the pool are taken: widen the stack entries of /etc/subuid and /etc/subgid or userns-range: %w", pool.Ranges, errdefs.ErrUnavailable)
}

// withUserNS gives the container's spec its user namespace and maps.
// Docker's ping_group_range (every gid) names gids the namespace does
// not map, which the kernel refuses there: it becomes every mapped gid.
func withUserNS(s *specs.Spec, u *usernsRange) {
	if s.Linux.Sysctl["net.ipv4.ping_group_range"] == "0 2147483647" {
		s.Linux.Sysctl["net.ipv4.ping_group_range"] = fmt.Sprintf("0 %d", u.Size-1)
	}
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: u.UID, Size: u.Size}}
	s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: u.GID, Size: u.Size}}
}
