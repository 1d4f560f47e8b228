package network

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// hostLockPath serialises subnet choice across every manager on the
// machine: each picks a subnet that no host route covers and then adds
// the bridge that routes it, and two managers doing so at once (two
// daemons, parallel test suites) would otherwise pick the same one.
const hostLockPath = "/run/lock/stack-network.lock"

// lockHost takes the machine-wide subnet lock and returns its release.
func lockHost() (func(), error) {
	if err := os.MkdirAll("/run/lock", 0o755); err != nil {
		return nil, fmt.Errorf("subnet lock: %w", err)
	}
	f, err := os.OpenFile(hostLockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("subnet lock: %w", err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("subnet lock: %w", err)
	}
	return func() { f.Close() }, nil
}
