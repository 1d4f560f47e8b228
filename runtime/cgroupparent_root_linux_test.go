package runtime_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stack-dev/stack/internal/testutil"
	"github.com/stack-dev/stack/runtime"
)

// TestRootCgroupParentRemovalRacesCreation creates and deletes containers
// from two goroutines at once, so that one's removal of the last
// container (which takes the cgroup parent) meets the other's creation
// (which makes the parent and its cgroup under it): every creation must
// succeed, and the last removal leave no parent (the leak check).
func TestRootCgroupParentRemovalRacesCreation(t *testing.T) {
	testutil.RequiresRoot(t)
	t.Parallel()
	m := newManager(t)
	rootfs := testutil.BusyboxRootfs(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for g := range 2 {
		wg.Go(func() {
			for i := range 15 {
				id := fmt.Sprintf("%s-%d-%d", containerID(t), g, i)
				if err := m.Create(ctx, id, runtime.Config{Spec: sh("true"), Rootfs: rootfs}); err != nil {
					t.Errorf("create %s: %v", id, err)
					return
				}
				if err := m.Delete(ctx, id, true); err != nil {
					t.Errorf("delete %s: %v", id, err)
					return
				}
			}
		})
	}
	wg.Wait()
}
