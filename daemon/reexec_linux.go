package daemon

import "github.com/stack-dev/stack/runtime"

// Reexec runs the runtime's re-exec roles (a container's shim, its init,
// an exec'd process): when the stack binary was started as one of them, it
// never returns. main calls it before anything else.
func Reexec() {
	if runtime.IsInit() {
		runtime.Init()
	}
}
