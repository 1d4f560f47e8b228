package daemon

import (
	"runtime/debug"
	"sync"
	"time"
)

// The daemon stays resident on a developer's machine: after a burst of
// image work (an import, a build, a pull: layers decompressed and hashed,
// tens of MiB of buffers) or an up or down of many services, its heap is
// garbage, but Go gives the pages back
// to the kernel only over minutes. releaseMemory has them returned a
// second after the last such request ends, so an idle daemon is small
// again at once.

var memoryRelease struct {
	sync.Mutex
	timer *time.Timer
}

// releaseMemory schedules the return of the heap's free pages.
func releaseMemory() {
	memoryRelease.Lock()
	defer memoryRelease.Unlock()
	if memoryRelease.timer == nil {
		memoryRelease.timer = time.AfterFunc(time.Second, debug.FreeOSMemory)
		return
	}
	memoryRelease.timer.Reset(time.Second)
}
